"use strict";
// The user token given in the Socket.IO handshake (`auth: {token}`) rather
// than in an `authenticate` event: the server answers `authenticated` at
// once, or refuses the connection (`connect_error` with a reason).
//
// Options (besides url, transports, timeout):
//   auth   the handshake's auth object, e.g. {token: "..."}
//   joins  join payloads to send once authenticated (optional)
// Ends once authenticated and every join answered, or on connect_error.

const { connect, finish, joinInTurn, options } = require("./common");

const opts = options();
const socket = connect(opts, { auth: opts.auth });

socket.on("authenticated", () => {
  joinInTurn(socket, opts.joins || [], () => finish(0));
});

socket.on("connect_error", () => finish(0));
socket.on("disconnect", () => finish(1));
