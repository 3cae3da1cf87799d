"use strict";
// The seed's "Leaving rooms" example: authenticate, then `realtime:leave`
// {name}; hear `realtime:leave:success` {name} or `realtime:leave:error`
// {name, error}. Rooms may be joined first so that there is one to leave.
//
// Options (besides url, transports, timeout):
//   token   the user token (required)
//   joins   join payloads sent first, each once the previous is answered
//   leaves  the leave payloads, each sent once the previous is answered;
//           default the seed's [{name: "/channels"}]
// Prints {"event": "left"} after the last answer, then goes on listening
// until its stdin closes (or the timeout).

const {
  connect,
  finish,
  finishWhenStdinCloses,
  joinInTurn,
  options,
  record,
} = require("./common");

const opts = options();
const token = opts.token;
const joins = opts.joins || [];
const leaves = opts.leaves || [{ name: "/channels" }];

function leaveInTurn(socket, done) {
  let next = 0;
  const step = () => {
    if (next === leaves.length) {
      done();
      return;
    }
    socket.emit("realtime:leave", leaves[next++]);
  };
  // As in the seed: these fire for every leave, whichever room it was.
  socket.on("realtime:leave:error", step);
  socket.on("realtime:leave:success", step);
  step();
}

const socket = connect(opts);

socket.on("connect", () => {
  socket.emit("authenticate", { token }).on("authenticated", () => {
    joinInTurn(socket, joins, () => {
      leaveInTurn(socket, () => record("left"));
    });
  });
  socket.on("unauthorized", () => finish(1));
});

socket.on("connect_error", () => finish(1));
socket.on("disconnect", () => finish(1));
finishWhenStdinCloses();
