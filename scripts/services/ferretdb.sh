#!/usr/bin/env bash
# FerretDB v1 (MongoDB wire protocol) on its SQLite backend, for the tests:
# 127.0.0.1:$ROOMCAST_FERRETDB_PORT (default 27027, away from a real mongod).
# Built once with `go build` from the Go module proxy into var/services/bin.
# Usage: scripts/services/ferretdb.sh start|stop|status|url
set -euo pipefail
SERVICE=ferretdb
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

VERSION="${ROOMCAST_FERRETDB_VERSION:-v1.24.2}"
TAGS=ferretdb_no_postgresql         # Go build tags (see build below)
PORT="${ROOMCAST_FERRETDB_PORT:-27027}"
DIR="$SERVICES_VAR/ferretdb"
BIN_DIR="$SERVICES_VAR/bin"
BIN="$BIN_DIR/ferretdb"
STAMP="$BIN_DIR/ferretdb.version"   # which version and tags $BIN was built from
PIDFILE="$DIR/ferretdb.pid"
LOGFILE="$DIR/ferretdb.log"
PATTERN="--listen-addr=127.0.0.1:$PORT"
PY="${ROOMCAST_SERVICES_PYTHON:-$ROOT/.venv/bin/python}"   # used for the readiness ping

# Ready = a MongoDB "ping" answers (pymongo from the project's venv when it is
# there), else the port accepts connections and the log says it listens.
answers() {
  port_open "$PORT" || return 1
  local rc=3
  if [[ -x "$PY" ]]; then
    # exit 0: ping answered; 1: it did not; 3: no pymongo in the venv
    "$PY" - "$PORT" <<'PYEOF' 2>/dev/null && rc=0 || rc=$?
import sys
try:
    import pymongo
except ImportError:
    sys.exit(3)
c = pymongo.MongoClient("127.0.0.1", int(sys.argv[1]), serverSelectionTimeoutMS=1000,
                        connectTimeoutMS=1000, directConnection=True)
c.admin.command("ping")
PYEOF
  fi
  if [[ $rc == 3 ]]; then
    grep -q "Listening on" "$LOGFILE" 2>/dev/null
  else
    return "$rc"
  fi
}

build() {
  [[ -x "$BIN" && "$(cat "$STAMP" 2>/dev/null)" == "$VERSION $TAGS" ]] && return 0
  command -v go >/dev/null || missing_tool "go not found: install Go >= 1.24 to build FerretDB"
  local t0; t0=$(now_s)
  log "building FerretDB $VERSION (first time only)"
  mkdir -p "$BIN_DIR"
  # Not `go install ...@version`: FerretDB panics at start unless
  # build/version/version.txt holds its version, a file its release process
  # generates from git and that the module zip lacks. So: fetch the module
  # (Go module proxy), copy its source to a temp dir, write that file, build.
  # GOTOOLCHAIN=local: never download another Go toolchain (it needs go >= 1.24).
  # CGO off: FerretDB's SQLite driver is pure Go.
  local tmp; tmp=$(mktemp -d)
  if ! (
    export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-buildvcs=false
    # (errexit is off inside an `if` condition, hence the explicit exits)
    cd "$tmp" || exit 1
    src=$(go mod download -json "github.com/FerretDB/FerretDB@$VERSION" |
          sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
    [[ -d "$src" ]] || { echo "go mod download gave no source directory"; exit 1; }
    cp -R "$src/." src && chmod -R u+w src && cd src || exit 1
    echo "$VERSION" >build/version/version.txt || exit 1
    # ferretdb_no_postgresql: leave out the PostgreSQL backend we do not use
    # (a smaller, quicker build; a build tag FerretDB itself provides).
    go build -trimpath -tags "$TAGS" -o "$BIN.tmp" ./cmd/ferretdb
  ) >"$DIR/build.log" 2>&1; then
    rm -rf "$tmp"
    if grep -q "requires go >=" "$DIR/build.log"; then
      missing_tool "go $(go env GOVERSION) is too old for FerretDB $VERSION: install Go >= 1.24"
    fi
    die "building FerretDB $VERSION failed" "$DIR/build.log"
  fi
  rm -rf "$tmp"
  mv "$BIN.tmp" "$BIN"
  echo "$VERSION $TAGS" >"$STAMP"
  log "built $BIN in $(elapsed "$t0")s"
}

start() {
  take_lock "$DIR"
  if running_pid "$PIDFILE" "$PATTERN" >/dev/null && answers; then
    log "already running on 127.0.0.1:$PORT"
    return 0
  fi
  build
  if port_open "$PORT" && ! running_pid "$PIDFILE" "$PATTERN" >/dev/null; then
    die "port $PORT is taken by another process (set ROOMCAST_FERRETDB_PORT)"
  fi
  mkdir -p "$DIR/data" "$DIR/state"
  rotate_log "$LOGFILE"
  local t0; t0=$(now_s)
  # --debug-addr=- : no metrics/pprof HTTP listener (default 127.0.0.1:8088).
  # setsid + nohup: the server outlives this script and its terminal.
  # fd 9 (our lock) must not be inherited, or the lock would live as long as the server.
  setsid nohup "$BIN" \
    --listen-addr="127.0.0.1:$PORT" \
    --handler=sqlite --sqlite-url="file:$DIR/data/" \
    --state-dir="$DIR/state" \
    --debug-addr=- \
    --telemetry=disable \
    --log-level=info \
    </dev/null >>"$LOGFILE" 2>&1 9>&- &
  echo $! >"$PIDFILE"
  local pid=$! i
  for ((i = 0; i < 300; i++)); do          # 60 s
    kill -0 "$pid" 2>/dev/null || die "ferretdb exited during startup" "$LOGFILE"
    answers && { log "ready on 127.0.0.1:$PORT in $(elapsed "$t0")s"; return 0; }
    sleep 0.2
  done
  die "ferretdb did not answer on port $PORT within 60s" "$LOGFILE"
}

stop() {
  take_lock "$DIR"
  stop_pid "$PIDFILE" "$PATTERN" 15
}

status() {
  report_status answers
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  url) echo "mongodb://127.0.0.1:$PORT/roomcast_test" ;;
  *) echo "usage: $0 start|stop|status|url" >&2; exit 2 ;;
esac
