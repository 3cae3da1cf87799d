#!/usr/bin/env bash
# Start or stop every server the tests use, and write var/services.env.
#   scripts/services/all.sh start   start Redis, FerretDB and Cassandra in
#                                   parallel, wait for each, write the env file
#   scripts/services/all.sh stop    stop all three, remove var/services.env
#   scripts/services/all.sh status
# var/services.env gets one `export ROOMCAST_TEST_<NAME>_URL='...'` line per
# server that runs; read it with `. var/services.env` in a shell. With CI set (or ROOMCAST_SERVICES_STRICT=1) any server
# that cannot start fails this script (exit 1, with the tail of its log).
# Otherwise a missing toolchain or a failed server only leaves its URL out
# (the tests that need it are then skipped) and the script exits 0.
set -euo pipefail
SERVICE=services
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
HERE="$ROOT/scripts/services"

NAMES=(cassandra ferretdb redis)   # cassandra first: it is the slow one
declare -A VAR=([redis]=ROOMCAST_TEST_REDIS_URL [ferretdb]=ROOMCAST_TEST_MONGODB_URL
                [cassandra]=ROOMCAST_TEST_CASSANDRA_URL)

start_all() {
  mkdir -p "$SERVICES_VAR"
  local t0; t0=$(now_s)
  local -A pids rc
  local name
  for name in "${NAMES[@]}"; do
    "$HERE/$name.sh" start &
    pids[$name]=$!
  done
  local failed=()
  for name in "${NAMES[@]}"; do
    rc[$name]=0
    wait "${pids[$name]}" || rc[$name]=$?
    case "${rc[$name]}" in
      0) ;;
      "$EXIT_MISSING_TOOL") ;;             # already said what to install
      *) failed+=("$name") ;;
    esac
  done

  # Written whole, then renamed: a reader never sees half a file.
  local env="$ROOT/var/services.env"
  {
    echo "# Written by scripts/services/all.sh start on $(date -Is)."
    for name in "${NAMES[@]}"; do
      # Single quotes: the Cassandra URL holds '&', which a shell sourcing
      # this file would otherwise take as "run in the background".
      [[ "${rc[$name]}" == 0 ]] && echo "export ${VAR[$name]}='$("$HERE/$name.sh" url)'"
    done
  } >"$env.tmp"
  mv "$env.tmp" "$env"

  if ((${#failed[@]})); then
    if is_strict; then
      log "ERROR: could not start: ${failed[*]} (see the messages above)"
      exit 1
    fi
    log "WARNING: could not start: ${failed[*]}; their URLs are left out of $env"
  fi
  log "wrote $env in $(elapsed "$t0")s:"
  grep '^export' "$env" | sed 's/^/  /' >&2 || true
}

stop_all() {
  local name stoppers=()
  for name in "${NAMES[@]}"; do
    "$HERE/$name.sh" stop &
    stoppers+=("$!")
  done
  local result=0 pid
  for pid in "${stoppers[@]}"; do wait "$pid" || result=1; done
  # The URLs no longer point at running servers.
  rm -f "$ROOT/var/services.env"
  return "$result"
}

status_all() {
  local name result=0
  for name in "${NAMES[@]}"; do "$HERE/$name.sh" status || result=1; done
  return "$result"
}

case "${1:-}" in
  start) start_all ;;
  stop) stop_all ;;
  status) status_all ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
