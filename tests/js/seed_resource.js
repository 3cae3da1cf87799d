"use strict";
// The seed's "Subscribe to resource events" example: authenticate, join
// rooms, then hear a `realtime:resource` event for each change in them.
//
// Options (besides url, transports, timeout):
//   token  the user token; default the seed's example token
//   joins  the join payloads, each sent once the previous one is answered
//   count  end after this many `realtime:resource` events (optional)
// Ends when its stdin closes, after `count` events, or at the timeout.

const {
  SEED_TOKEN,
  connect,
  finish,
  finishWhenStdinCloses,
  joinInTurn,
  options,
  record,
} = require("./common");

const opts = options();
const token = opts.token === undefined ? SEED_TOKEN : opts.token;
const joins = opts.joins || [{ name: "/channels", token: "twake" }];
let received = 0;

const socket = connect(opts);

socket.on("connect", () => {
  socket
    .emit("authenticate", { token })
    .on("authenticated", () => {
      joinInTurn(socket, joins, () => record("joined"));

      // Fires only for changes in the rooms this socket is in.
      socket.on("realtime:resource", () => {
        received += 1;
        if (received === opts.count) {
          finish(0);
        }
      });
    })
    .on("unauthorized", () => {
      finish(1);
    });
});

socket.on("connect_error", () => finish(1));
socket.on("disconnect", () => finish(1));
finishWhenStdinCloses();
