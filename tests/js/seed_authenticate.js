"use strict";
// The seed's "Authentication" example: connect, send `authenticate` with a
// token, hear `authenticated` or `unauthorized`.
//
// Options (besides url, transports, timeout):
//   attempts  the `authenticate` payloads to send, one after each
//             `unauthorized`; default [{token: <the seed's example token>}]
// Ends after `authenticated`, or after the last attempt's `unauthorized`.

const { SEED_TOKEN, connect, finish, options } = require("./common");

const opts = options();
const attempts = opts.attempts || [{ token: SEED_TOKEN }];
let next = 0;

const socket = connect(opts);

socket.on("connect", () => {
  socket
    .emit("authenticate", attempts[next++])
    .on("authenticated", () => {
      finish(0);
    })
    .on("unauthorized", () => {
      // The socket stays open after a refusal: try the next payload on it.
      if (next < attempts.length) {
        socket.emit("authenticate", attempts[next++]);
      } else {
        finish(0);
      }
    });
});

socket.on("connect_error", () => finish(1));
socket.on("disconnect", () => finish(0));
