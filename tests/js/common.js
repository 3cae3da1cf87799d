"use strict";
// What the seed-example scripts share: their options, the connection, and
// one JSON line on stdout per event the server sends, in arrival order.
//
// Every script takes one argument, a JSON object of options:
//   url         the server, e.g. "http://127.0.0.1:3000" (required)
//   transports  Socket.IO transports; the client's default when absent
//   timeout     seconds before the script gives up on its own (default 10)
// and the options of the script itself (see each script's header).

const io = require("socket.io-client");

// The token printed in the seed's examples: HS256 with the secret
// "supersecret", claims {_id: 1, iat: 1603198932}.
const SEED_TOKEN =
  "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJfaWQiOjEsImlhdCI6MTYwMzE5ODkzMn0.NvQoV9KeWuTNzRvzqbJ5uZCQ8Nmi2rCYQzcKk-WsJJ8";

function options() {
  const opts = JSON.parse(process.argv[2] || "{}");
  if (typeof opts.url !== "string") {
    process.stderr.write("usage: node <script>.js '{\"url\": ...}'\n");
    process.exit(64);
  }
  return opts;
}

function record(event, data) {
  const line = data === undefined ? { event } : { event, data };
  process.stdout.write(JSON.stringify(line) + "\n");
}

let current = null;
let finished = false;

// End the run: stop listening, close the socket and exit. Only the first
// call counts, so handlers may call it freely.
function finish(code = 0) {
  if (finished) {
    return;
  }
  finished = true;
  if (current !== null) {
    current.offAny();
    current.off();
    current.close();
  }
  record("end", code);
  process.exit(code);
}

// Connect as the seed does (path "/socket"), never reconnecting on its own
// so that every connection the test sees is one the script asked for.
function connect(opts, extra = {}) {
  const settings = { path: "/socket", reconnection: false, forceNew: true };
  if (opts.transports) {
    settings.transports = opts.transports;
  }
  const socket = io.connect(opts.url, { ...settings, ...extra });
  current = socket;
  socket.onAny((event, data) => record(event, data));
  socket.on("connect", () => record("connect"));
  socket.on("disconnect", (reason) => record("disconnect", reason));
  socket.on("connect_error", (err) =>
    record("connect_error", { message: err.message, data: err.data }),
  );

  const seconds = opts.timeout || 10;
  setTimeout(() => {
    record("timeout", seconds);
    finish(3);
  }, seconds * 1000);
  return socket;
}

// The test closes the script's stdin when it has seen enough.
function finishWhenStdinCloses() {
  process.stdin.on("data", () => {});
  process.stdin.on("end", () => finish(0));
  process.stdin.resume();
}

// Send each join once the previous one has been answered, so the answers
// come back in the order of `joins`; then call `done`.
function joinInTurn(socket, joins, done) {
  let next = 0;
  const step = () => {
    if (next === joins.length) {
      socket.off("realtime:join:success", step);
      socket.off("realtime:join:error", step);
      done();
      return;
    }
    socket.emit("realtime:join", joins[next++]);
  };
  socket.on("realtime:join:success", step);
  socket.on("realtime:join:error", step);
  step();
}

module.exports = {
  SEED_TOKEN,
  connect,
  finish,
  finishWhenStdinCloses,
  joinInTurn,
  options,
  record,
};
