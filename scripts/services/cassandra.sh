#!/usr/bin/env bash
# Apache Cassandra 5.0 for the tests: one node, 127.0.0.1 only, run straight
# from its jars on Maven Central (fetched once by Maven into
# var/services/cassandra/lib) on Java 17.
#   CQL native port  $ROOMCAST_CASSANDRA_PORT          (default 9142)
#   storage (gossip) $ROOMCAST_CASSANDRA_STORAGE_PORT  (default 7142)
#   JMX (nodetool)   $ROOMCAST_CASSANDRA_JMX_PORT      (default 7299, loopback)
# Extra JVM flags: $ROOMCAST_CASSANDRA_JVM_OPTS (split on spaces).
# Data center name: datacenter1 (SimpleSnitch).
# Usage: scripts/services/cassandra.sh start|stop|status|url|nodetool ARGS...
set -euo pipefail
SERVICE=cassandra
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

HERE="$ROOT/scripts/services/cassandra"       # pom.xml, JVM options, logback.xml
PORT="${ROOMCAST_CASSANDRA_PORT:-9142}"
STORAGE_PORT="${ROOMCAST_CASSANDRA_STORAGE_PORT:-7142}"
JMX_PORT="${ROOMCAST_CASSANDRA_JMX_PORT:-7299}"
START_TIMEOUT="${ROOMCAST_CASSANDRA_START_TIMEOUT:-240}"   # seconds
DIR="$SERVICES_VAR/cassandra"
LIB="$DIR/lib"
CONF="$DIR/conf"
DATA="$DIR/data"
LOGS="$DIR/logs"
PIDFILE="$DIR/cassandra.pid"
SYSLOG="$LOGS/system.log"
OUTLOG="$LOGS/stdout.log"       # JVM output before logging is set up
PATTERN="org.apache.cassandra.service.CassandraDaemon"

# find_java: set JAVA to a Java 17 binary (Cassandra 5.0 runs on 11 or 17;
# the flags in jvm17-server.options are for 17; Java 21+ is not supported).
find_java() {
  local cand ver
  for cand in "${ROOMCAST_CASSANDRA_JAVA:-}" "${JAVA_HOME:+$JAVA_HOME/bin/java}" \
              /usr/lib/jvm/java-17-openjdk-*/bin/java "$(command -v java || true)"; do
    [[ -n "$cand" && -x "$cand" ]] || continue
    ver=$("$cand" -XshowSettings:properties -version 2>&1 |
          awk -F' = ' '/java.specification.version/ { print $2 }')
    if [[ "$ver" == 17 ]]; then JAVA=$cand; return 0; fi
  done
  return 1
}

# fetch_jars: copy cassandra-all and its runtime dependencies into $LIB, once
# per content of pom.xml (a stamp file holds the pom's checksum).
fetch_jars() {
  local want; want=$(sha256sum "$HERE/pom.xml" | cut -c1-64)
  [[ -f "$LIB/.fetched" && "$(cat "$LIB/.fetched")" == "$want" ]] && return 0
  command -v mvn >/dev/null ||
    missing_tool "mvn not found: install Maven (Debian: apt-get install maven) to fetch Cassandra"
  local t0; t0=$(now_s)
  log "fetching Cassandra jars with Maven (first time only)"
  rm -rf "$LIB.tmp"
  mvn -B -q -f "$HERE/pom.xml" dependency:copy-dependencies \
      -DincludeScope=runtime -DoutputDirectory="$LIB.tmp" >"$DIR/fetch.log" 2>&1 ||
    die "mvn could not fetch Cassandra's jars" "$DIR/fetch.log"
  rm -rf "$LIB"
  mv "$LIB.tmp" "$LIB"
  echo "$want" >"$LIB/.fetched"
  local jars=("$LIB"/*.jar)
  log "fetched ${#jars[@]} jars in $(elapsed "$t0")s"
}

# write_config: the whole cassandra.yaml, rewritten on every start.
write_config() {
  mkdir -p "$CONF" "$DATA" "$LOGS" "$DIR/triggers"
  cat >"$CONF/cassandra.yaml" <<YAML
# Written by scripts/services/cassandra.sh on each start; edit the script.
cluster_name: roomcast_test
num_tokens: 16
allocate_tokens_for_local_replication_factor: 1
partitioner: org.apache.cassandra.dht.Murmur3Partitioner
endpoint_snitch: SimpleSnitch           # data center "datacenter1", rack "rack1"
seed_provider:
  - class_name: org.apache.cassandra.locator.SimpleSeedProvider
    parameters:
      - seeds: "127.0.0.1:$STORAGE_PORT"

# Loopback only.
listen_address: 127.0.0.1
rpc_address: 127.0.0.1
storage_port: $STORAGE_PORT
start_native_transport: true
native_transport_port: $PORT

authenticator: AllowAllAuthenticator
authorizer: AllowAllAuthorizer
role_manager: CassandraRoleManager
network_authorizer: AllowAllNetworkAuthorizer

data_file_directories:
  - $DATA/data
commitlog_directory: $DATA/commitlog
saved_caches_directory: $DATA/saved_caches
hints_directory: $DATA/hints
cdc_raw_directory: $DATA/cdc_raw
commitlog_sync: periodic
commitlog_sync_period: 10000ms
commitlog_segment_size: 32MiB

# A single fresh test node: nothing to stream from, no compatibility to keep.
auto_bootstrap: false
storage_compatibility_mode: NONE
# Tests create, truncate and drop tables all the time: no snapshot each time.
auto_snapshot: false
disk_failure_policy: stop
commit_failure_policy: stop
concurrent_compactors: 1
YAML
}

# log_since OFFSET: what system.log got after byte OFFSET (this start's lines).
log_since() { tail -c +"$(($1 + 1))" "$SYSLOG" 2>/dev/null || true; }

# The JVM flags of jvm17-server.options (lines starting with '-').
jvm_options() { grep -E '^-' "$HERE/jvm17-server.options"; }

# nodetool over JMX on 127.0.0.1:$JMX_PORT, with the same JPMS flags as the
# server; user.home points into var/ so its history file stays there.
nodetool() {
  find_java || die "java 17 not found"
  local -a jpms
  mapfile -t jpms < <(grep -E '^--add-' "$HERE/jvm17-server.options")
  "$JAVA" -Xmx128m "${jpms[@]}" -Duser.home="$DIR" -cp "$LIB/*" \
    -Dlogback.configurationFile="$HERE/logback.xml" -Dcassandra.logdir="$LOGS" \
    org.apache.cassandra.tools.NodeTool -h 127.0.0.1 -p "$JMX_PORT" "$@"
}

start() {
  take_lock "$DIR"
  if running_pid "$PIDFILE" "$PATTERN" >/dev/null && port_open "$PORT"; then
    log "already running on 127.0.0.1:$PORT"
    return 0
  fi
  find_java ||
    missing_tool "java 17 not found: install OpenJDK 17 (Debian: apt-get install openjdk-17-jre-headless)"
  fetch_jars
  # A server of ours still starting up (or hung): stop it and start afresh.
  running_pid "$PIDFILE" "$PATTERN" >/dev/null && stop_pid "$PIDFILE" "$PATTERN" 30
  local p
  for p in "$PORT" "$STORAGE_PORT" "$JMX_PORT"; do
    port_open "$p" && die "port $p is taken by another process (see the ROOMCAST_CASSANDRA_*PORT variables)"
  done
  write_config

  local t0; t0=$(now_s)
  local offset=0   # only log lines written by this start count for readiness
  [[ -f "$SYSLOG" ]] && offset=$(stat -c %s "$SYSLOG")
  # Cassandra's memory meter (jamm) runs as a Java agent, as in cassandra-env.sh.
  local jamm=("$LIB"/jamm-*.jar)
  local -a opts
  mapfile -t opts < <(jvm_options)
  local -a extra
  read -r -a extra <<<"${ROOMCAST_CASSANDRA_JVM_OPTS:-}"
  echo "=== start $(date -Is)" >>"$OUTLOG"
  # setsid + nohup: the server outlives this script and its terminal.
  # fd 9 (our lock) must not be inherited, or the lock would live as long as the server.
  MALLOC_ARENA_MAX=4 setsid nohup "$JAVA" "${opts[@]}" \
    -javaagent:"${jamm[0]}" \
    -XX:HeapDumpPath="$DIR" -XX:ErrorFile="$LOGS/hs_err_%p.log" \
    -Dcassandra.config="file://$CONF/cassandra.yaml" \
    -Dcassandra.storagedir="$DATA" \
    -Dcassandra.logdir="$LOGS" \
    -Dcassandra.triggers_dir="$DIR/triggers" \
    -Dlogback.configurationFile="$HERE/logback.xml" \
    -Dcassandra.jmx.local.port="$JMX_PORT" \
    -Dcom.sun.management.jmxremote.authenticate=false \
    -Dcom.sun.management.jmxremote.rmi.port="$JMX_PORT" \
    -Dcassandra-foreground=yes \
    "${extra[@]}" \
    -cp "$LIB/*" "$PATTERN" \
    </dev/null >>"$OUTLOG" 2>&1 9>&- &
  local pid=$!
  echo "$pid" >"$PIDFILE"

  local i
  for ((i = 0; i < START_TIMEOUT * 4; i++)); do
    if ! kill -0 "$pid" 2>/dev/null; then
      log_since "$offset" | tail -n 30 >&2
      die "cassandra exited during startup (full log: $SYSLOG)" "$OUTLOG"
    fi
    # system.log rolled over meanwhile: read the new file from its start.
    (($(stat -c %s "$SYSLOG" 2>/dev/null || echo 0) < offset)) && offset=0
    # The CQL port opens when Cassandra logs that it listens for CQL clients.
    if port_open "$PORT" &&
       grep -q "Starting listening for CQL clients" < <(log_since "$offset"); then
      log "ready on 127.0.0.1:$PORT in $(elapsed "$t0")s"
      return 0
    fi
    sleep 0.25
  done
  stop_pid "$PIDFILE" "$PATTERN" 10
  die "cassandra did not open the CQL port $PORT within ${START_TIMEOUT}s" "$SYSLOG"
}

stop() {
  take_lock "$DIR"
  # SIGTERM runs Cassandra's shutdown hook (drains, flushes); allow it time.
  stop_pid "$PIDFILE" "$PATTERN" 60
}

status() {
  report_status port_open "$PORT"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  url) echo "cassandra://127.0.0.1:$PORT/roomcast_test?replication_factor=1&local_dc=datacenter1" ;;
  nodetool) shift; nodetool "$@" ;;
  *) echo "usage: $0 start|stop|status|url|nodetool ARGS..." >&2; exit 2 ;;
esac
