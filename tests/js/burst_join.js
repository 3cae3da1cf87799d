"use strict";
// A client that joins many rooms at once, as a page joining every channel
// it shows when it loads: all joins are sent without waiting for answers.
//
// Options (besides url, transports, timeout):
//   token  the user token (required)
//   joins  the join payloads, all sent at once
// Ends once every join has been answered.

const { connect, finish, options } = require("./common");

const opts = options();
const joins = opts.joins || [];
let answers = 0;

const socket = connect(opts);

socket.on("connect", () => {
  socket.emit("authenticate", { token: opts.token });
});

socket.on("authenticated", () => {
  for (const join of joins) {
    socket.emit("realtime:join", join);
  }
});

const answered = () => {
  answers += 1;
  if (answers === joins.length) {
    finish(0);
  }
};
socket.on("realtime:join:success", answered);
socket.on("realtime:join:error", answered);
socket.on("unauthorized", () => finish(1));
socket.on("connect_error", () => finish(1));
socket.on("disconnect", () => finish(1));
