"use strict";
// The seed's "Joining rooms" example: authenticate, then `realtime:join`
// {name, token}; hear `realtime:join:success` {name} or
// `realtime:join:error` {name, error}.
//
// Options (besides url, transports, timeout):
//   token  the user token; default the seed's example token
//   joins  the join payloads, each sent once the previous one is answered;
//          default the seed's [{name: "/channels", token: "twake"}]
// Ends once every join has been answered.

const { SEED_TOKEN, connect, finish, joinInTurn, options } = require("./common");

const opts = options();
const token = opts.token === undefined ? SEED_TOKEN : opts.token;
const joins = opts.joins || [{ name: "/channels", token: "twake" }];

const socket = connect(opts);

socket.on("connect", () => {
  socket
    .emit("authenticate", { token })
    .on("authenticated", () => {
      joinInTurn(socket, joins, () => finish(0));
    })
    .on("unauthorized", () => {
      finish(1);
    });
});

socket.on("connect_error", () => finish(1));
socket.on("disconnect", () => finish(1));
