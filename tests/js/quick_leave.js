"use strict";
// A client that asks to join a room and, without waiting for the answer,
// to leave it again: it should end up out of the room, as it asked last.
//
// Options (besides url, transports, timeout):
//   token   the user token (required)
//   joins   join payloads sent first, each once the previous is answered
//   quick   join payloads, each sent together with a leave of its room
// Prints {"event": "left"} once every quick join and leave is answered,
// then goes on listening until its stdin closes (or the timeout).

const {
  connect,
  finish,
  finishWhenStdinCloses,
  joinInTurn,
  options,
  record,
} = require("./common");

const opts = options();
const quick = opts.quick || [];

const socket = connect(opts);

socket.on("connect", () => {
  socket.emit("authenticate", { token: opts.token });
});

socket.on("authenticated", () => {
  joinInTurn(socket, opts.joins || [], () => {
    let answers = 0;
    const answered = () => {
      answers += 1;
      if (answers === 2 * quick.length) {
        record("left");
      }
    };
    for (const event of [
      "realtime:join:success",
      "realtime:join:error",
      "realtime:leave:success",
      "realtime:leave:error",
    ]) {
      socket.on(event, answered);
    }
    for (const join of quick) {
      socket.emit("realtime:join", join);
      socket.emit("realtime:leave", { name: join.name });
    }
  });
});

socket.on("unauthorized", () => finish(1));
socket.on("connect_error", () => finish(1));
socket.on("disconnect", () => finish(1));
finishWhenStdinCloses();
