# shellcheck shell=bash
# Helpers shared by the scripts in scripts/services/. Sourced, not executed.
#
# Conventions of every <service>.sh:
#   start   installs what is missing, starts the server on 127.0.0.1 (no-op
#           when it already runs) and waits until it answers;
#   stop    stops it (no-op when it is not running);
#   status  exit 0 when it runs and answers, 1 otherwise;
#   url     prints the URL the tests use (ROOMCAST_TEST_<NAME>_URL).
# Exit code 3 from `start` means "a toolchain is missing, nothing was started"
# and is only used outside CI (in CI a missing toolchain is a failure, exit 1).

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck disable=SC2034  # used by the scripts that source this file
SERVICES_VAR="$ROOT/var/services"
EXIT_MISSING_TOOL=3

# Strict mode: failures are fatal. On in CI (CI set to anything but ""/false/0),
# or on request with ROOMCAST_SERVICES_STRICT=1.
is_strict() {
  case "${CI:-}" in "" | false | 0) ;; *) return 0 ;; esac
  [[ -n "${ROOMCAST_SERVICES_STRICT:-}" && "${ROOMCAST_SERVICES_STRICT}" != 0 ]]
}

# rotate_log FILE: keep the previous run's log as FILE.1, start afresh.
rotate_log() { [[ -f "$1" ]] && mv -f "$1" "$1.1"; return 0; }

log() { printf '[%s] %s\n' "$SERVICE" "$*" >&2; }

# die MESSAGE [LOGFILE]: print MESSAGE and the tail of LOGFILE, exit 1.
die() {
  log "ERROR: $1"
  if [[ -n "${2:-}" && -s "$2" ]]; then
    log "last lines of $2:"
    tail -n "${LOG_TAIL_LINES:-40}" "$2" | sed "s/^/[$SERVICE]   /" >&2
  fi
  exit 1
}

# missing_tool "what to install": one clear line; fatal in CI, a skip elsewhere.
missing_tool() {
  if is_strict; then
    die "$1"
  fi
  log "SKIPPED: $1"
  exit "$EXIT_MISSING_TOOL"
}

# port_open PORT: something accepts TCP connections on 127.0.0.1:PORT.
port_open() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# running_pid PIDFILE PATTERN: print the pid recorded in PIDFILE if that
# process is alive AND its command line contains PATTERN (so a stale pidfile
# whose pid was reused by an unrelated process is not mistaken for ours).
# A stale pidfile is removed.
running_pid() {
  local pidfile=$1 pattern=$2 pid cmdline=""
  [[ -s "$pidfile" ]] || return 1
  pid=$(tr -dc '0-9' <"$pidfile")
  if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
    cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)
  fi
  if [[ -n "$cmdline" && "$cmdline" == *"$pattern"* ]]; then
    echo "$pid"
    return 0
  fi
  rm -f "$pidfile"
  return 1
}

# stop_pid PIDFILE PATTERN [TIMEOUT_S]: SIGTERM, wait, then SIGKILL.
stop_pid() {
  local pidfile=$1 pattern=$2 timeout=${3:-30} pid i
  if ! pid=$(running_pid "$pidfile" "$pattern"); then
    log "not running"
    return 0
  fi
  log "stopping (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < timeout * 5; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "still alive after ${timeout}s, sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    sleep 0.5
  fi
  rm -f "$pidfile"
  log "stopped"
}

# take_lock DIR: serialise start/stop of one service (two concurrent
# `all.sh start` runs must not launch two servers on one port).
# `status` of a service script: running (by its pidfile) and answering (the
# check given as arguments), or not. PIDFILE, PATTERN and PORT are the
# service script's own.
# shellcheck disable=SC2153
report_status() {
  if running_pid "$PIDFILE" "$PATTERN" >/dev/null && "$@"; then
    log "running on 127.0.0.1:$PORT"
  else
    log "not running"
    return 1
  fi
}

take_lock() {
  mkdir -p "$1"
  exec 9>"$1/.lock"
  flock -w 900 9 || die "could not lock $1/.lock"
}

# now_s: seconds since the epoch with milliseconds, for timings.
now_s() { date +%s.%3N; }
elapsed() { awk -v a="$1" -v b="$(now_s)" 'BEGIN { printf "%.1f", b - a }'; }
