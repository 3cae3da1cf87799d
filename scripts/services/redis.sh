#!/usr/bin/env bash
# Redis for the tests: our own instance on 127.0.0.1:$ROOMCAST_REDIS_PORT
# (default 6390, away from a system Redis on 6379), no persistence.
# Usage: scripts/services/redis.sh start|stop|status|url
set -euo pipefail
SERVICE=redis
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

PORT="${ROOMCAST_REDIS_PORT:-6390}"
DIR="$SERVICES_VAR/redis"
PIDFILE="$DIR/redis.pid"
LOGFILE="$DIR/redis.log"
# Redis rewrites its process title to "/usr/bin/redis-server 127.0.0.1:PORT".
PATTERN="redis-server 127.0.0.1:$PORT"

# (timeout: a foreign server on the port might never answer)
answers() { [[ "$(timeout 2 redis-cli -h 127.0.0.1 -p "$PORT" ping 2>/dev/null)" == PONG ]]; }

install() {
  command -v redis-server >/dev/null && command -v redis-cli >/dev/null && return 0
  if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
    missing_tool "redis-server not found: install it (Debian: apt-get install redis-server)"
  fi
  local t0; t0=$(now_s)
  log "installing redis-server with apt-get"
  # The package's own system service (port 6379) is not used by us.
  if ! { DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
         DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server; } \
       >"$DIR/apt.log" 2>&1; then
    missing_tool "apt-get install redis-server failed (see $DIR/apt.log)"
  fi
  log "installed redis-server in $(elapsed "$t0")s"
}

start() {
  take_lock "$DIR"
  if running_pid "$PIDFILE" "$PATTERN" >/dev/null && answers; then
    log "already running on 127.0.0.1:$PORT"
    return 0
  fi
  install
  if port_open "$PORT" && ! running_pid "$PIDFILE" "$PATTERN" >/dev/null; then
    die "port $PORT is taken by another process (set ROOMCAST_REDIS_PORT)"
  fi
  rotate_log "$LOGFILE"
  local t0; t0=$(now_s)
  # Daemonized, loopback only, no RDB/AOF. fd 9 (our lock) is not inherited.
  redis-server --bind 127.0.0.1 --port "$PORT" --protected-mode yes \
    --daemonize yes --pidfile "$PIDFILE" --logfile "$LOGFILE" --dir "$DIR" \
    --save '' --appendonly no 9>&- \
    || die "redis-server failed to start" "$LOGFILE"
  local i
  for ((i = 0; i < 150; i++)); do          # 30 s
    answers && { log "ready on 127.0.0.1:$PORT in $(elapsed "$t0")s"; return 0; }
    sleep 0.2
  done
  die "redis did not answer PING on port $PORT within 30s" "$LOGFILE"
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
  url) echo "redis://127.0.0.1:$PORT/0" ;;
  *) echo "usage: $0 start|stop|status|url" >&2; exit 2 ;;
esac
