"use strict";
// A client that connects and never authenticates; the server should drop
// it after its authentication timeout.
//
// Options (besides url, transports, timeout):
//   joins  join payloads sent right after connecting, without a token
// Ends when disconnected (or at the timeout).

const { connect, finish, options } = require("./common");

const opts = options();
const socket = connect(opts);

socket.on("connect", () => {
  for (const join of opts.joins || []) {
    socket.emit("realtime:join", join);
  }
});

socket.on("connect_error", () => finish(1));
socket.on("disconnect", () => finish(0));
