"use strict";
// The seed's client, made to last: it lets socket.io-client reconnect on its
// own, and on every connection authenticates again and rejoins its room with
// `since`, the last event id it received, so that nothing is missed.
//
// Options (besides url, timeout):
//   token  the user token (required)
//   room   the room to join, and roomToken, its room token (required)
//   count  end once this many distinct events were received
// Prints each event, "joined" with the join's answer, and "connect" /
// "disconnect" as they happen.

const io = require("socket.io-client");
const { finish, options, record } = require("./common");

const opts = options();
let lastEventId = null;
const seen = new Set();

const socket = io.connect(opts.url, {
  path: "/socket",
  transports: ["websocket"],
  reconnection: true,
  reconnectionDelay: 100,
  reconnectionDelayMax: 500,
  randomizationFactor: 0,
});

socket.on("connect", () => {
  record("connect");
  socket.emit("authenticate", { token: opts.token });
});

socket.on("authenticated", () => {
  const join = { name: opts.room, token: opts.roomToken };
  if (lastEventId !== null) {
    join.since = lastEventId;
  }
  socket.emit("realtime:join", join);
});

socket.on("realtime:join:success", (answer) => record("joined", answer));
socket.on("realtime:join:error", (answer) => record("join_error", answer));
socket.on("unauthorized", (answer) => record("unauthorized", answer));
socket.on("disconnect", (reason) => record("disconnect", reason));

socket.on("realtime:resource", (event) => {
  record("realtime:resource", event);
  seen.add(event.event_id);
  lastEventId = event.event_id;
  if (seen.size === opts.count) {
    finish(0);
  }
});

setTimeout(() => {
  record("timeout", opts.timeout);
  finish(3);
}, (opts.timeout || 30) * 1000);
