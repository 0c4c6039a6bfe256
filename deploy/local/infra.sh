#!/usr/bin/env bash
# Local infrastructure for PromptWorks without Docker: Debian's PostgreSQL in a project-owned data
# directory, and Apache Kafka 4.x (KRaft, single node) run from the official jars that
# deploy/kafka/pom.xml resolves from Maven Central.
#
# Usage: deploy/local/infra.sh install|up|up-postgres|down|status|env|reset
#
#   install  install what this machine lacks (apt: postgresql, postgresql-contrib, and a JRE / Maven
#            if absent; the Kafka jars into $PROMPTWORKS_CACHE_DIR/kafka-libs). Fast when present.
#   up       start PostgreSQL and Kafka unless already running, wait until both answer, create the
#            role and the service databases if absent; prints one status line.
#   up-postgres  the same for PostgreSQL alone (tests that need a server of their own and no broker).
#   down     stop both (succeeds when nothing runs).
#   status   show whether each is up (exit 0 when both are up, 3 otherwise).
#   env      print `export` lines for clients:  eval "$(deploy/local/infra.sh env)"
#   reset    down, then delete this stack's data (pg/, kafka/) and the state dir if left empty.
#   crash-postgres  stop PostgreSQL as a crash would (`pg_ctl stop -m immediate`: no checkpoint,
#            connections cut; the next `up` recovers from the WAL). For fault tests on a private
#            state dir only.
#   crash-kafka     kill -9 the broker (the next `up` restarts it on its data). Same caveat.
#
# Configuration (environment, with defaults):
#   PROMPTWORKS_STATE_DIR             $REPO/.local   data, configs, pid and log files
#   PROMPTWORKS_CACHE_DIR             $REPO/.cache   Kafka jars (kafka-libs/)
#   PROMPTWORKS_PG_PORT               54329
#   PROMPTWORKS_KAFKA_PORT            19092
#   PROMPTWORKS_KAFKA_CONTROLLER_PORT 19093
#   PROMPTWORKS_PG_FAST               unset; 1 = fsync/synchronous_commit/full_page_writes off
#                                     (throwaway clusters for tests and CI only; read at each start)
#   PROMPTWORKS_PG_SETTINGS           unset; extra server settings, `name=value` separated by `;`
#                                     (a crash test's wal_writer_delay, say; read at each start)
#   PROMPTWORKS_KAFKA_HEAP            1g
#   PROMPTWORKS_KAFKA_START_TIMEOUT   60 (seconds)
#
# Layout of the state directory:
#   pg/data  pg/run (unix socket)  pg/postgresql.log
#   kafka/data  kafka/server.properties  kafka/kafka.pid  kafka/logs/server.log  kafka/stdout.log
#
# Both servers listen on 127.0.0.1 only, and outlive this script (setsid/nohup), so `make dev` can
# start them and `make down` stop them later. Local development only: the `promptworks` role is a
# superuser with a well-known password.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
STATE_DIR="${PROMPTWORKS_STATE_DIR:-$REPO/.local}"
CACHE_DIR="${PROMPTWORKS_CACHE_DIR:-$REPO/.cache}"
PG_PORT="${PROMPTWORKS_PG_PORT:-54329}"
KAFKA_PORT="${PROMPTWORKS_KAFKA_PORT:-19092}"
KAFKA_CONTROLLER_PORT="${PROMPTWORKS_KAFKA_CONTROLLER_PORT:-19093}"
PG_FAST="${PROMPTWORKS_PG_FAST:-0}"
KAFKA_HEAP="${PROMPTWORKS_KAFKA_HEAP:-1g}"
KAFKA_START_TIMEOUT="${PROMPTWORKS_KAFKA_START_TIMEOUT:-60}"

# Paths end up in config files read by other processes: make them absolute.
[[ "$STATE_DIR" == /* ]] || STATE_DIR="$PWD/$STATE_DIR"
[[ "$CACHE_DIR" == /* ]] || CACHE_DIR="$PWD/$CACHE_DIR"

POM="$REPO/deploy/kafka/pom.xml"
LOG4J_CONFIG="$REPO/deploy/kafka/log4j2.properties"
LIBS="$CACHE_DIR/kafka-libs"
KAFKA_DIR="$STATE_DIR/kafka"
PG_LINK="$STATE_DIR/pg"
pg_paths() {
  # The cluster's real path: tools run as the postgres user must not walk through a symlink in a
  # directory that user cannot traverse (see pg_prepare_dirs).
  PG_DIR="$(readlink -f "$PG_LINK" 2>/dev/null || echo "$PG_LINK")"
  # Unix socket paths are limited to ~107 bytes: a deep checkout gets a short socket dir in /tmp.
  PG_SOCK_DIR="$PG_DIR/run"
  if ((${#PG_SOCK_DIR} > 90)); then
    PG_SOCK_DIR="/tmp/promptworks-pg-sock-$(printf '%s' "$PG_DIR" | sha256sum | cut -c1-12)"
  fi
}
pg_paths

PG_USER=promptworks
PG_PASSWORD=promptworks
DATABASES=(prompt_service run_orchestrator evaluator query_api)

die() { echo "infra: error: $*" >&2; exit 1; }
note() { echo "infra: $*" >&2; }
is_root() { [[ "$(id -u)" == 0 ]]; }

# true when something accepts TCP connections on 127.0.0.1:$1
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# ---------------------------------------------------------------------------------------------
# install
# ---------------------------------------------------------------------------------------------

pkg_installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q '^install ok installed$'; }

APT_UPDATED=0
apt_install() {
  local sudo=()
  if ! is_root; then
    command -v sudo >/dev/null || die "need root (or sudo) to apt-get install $*"
    sudo=(sudo)
  fi
  if [[ "$APT_UPDATED" == 0 ]]; then
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    APT_UPDATED=1
  fi
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

install_postgres() {
  if pkg_installed postgresql && pkg_installed postgresql-contrib && pg_bin_dir >/dev/null 2>&1; then
    return
  fi
  note "installing postgresql, postgresql-contrib (apt)"
  if ! pkg_installed postgresql-common; then
    apt_install postgresql-common
  fi
  # Debian would otherwise create and start a system cluster on port 5432 that nobody here uses.
  local conf=/etc/postgresql-common/createcluster.conf
  if [[ -f "$conf" ]] && ! grep -q '^create_main_cluster *= *false' "$conf"; then
    local sudo=(); is_root || sudo=(sudo)
    "${sudo[@]}" sed -i -E 's/^#? *create_main_cluster *=.*/create_main_cluster = false/' "$conf"
  fi
  apt_install postgresql postgresql-contrib
  pg_bin_dir >/dev/null || die "postgresql installed but no /usr/lib/postgresql/<major>/bin/initdb"
}

install_java_maven() {
  local pkgs=()
  command -v java >/dev/null || [[ -n "${JAVA_HOME:-}" ]] || pkgs+=(default-jre-headless)
  command -v mvn >/dev/null || pkgs+=(maven)
  if ((${#pkgs[@]})); then
    note "installing ${pkgs[*]} (apt)"
    apt_install "${pkgs[@]}"
  fi
  check_java
}

# Node.js runs the npm tools (the TypeScript client's generator and compiler, the AsyncAPI parser).
install_node() {
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    note "installing nodejs, npm (apt)"
    apt_install nodejs npm
  fi
}

# Debian's Chromium runs the web console's browser tests (puppeteer-core drives it; a test tool's
# own browser download is not possible here), with a small CJK font so the Chinese screens render.
install_chromium() {
  local pkgs=()
  command -v chromium >/dev/null || pkgs+=(chromium)
  pkg_installed fonts-wqy-microhei || pkgs+=(fonts-wqy-microhei)
  if ((${#pkgs[@]})); then
    note "installing ${pkgs[*]} (apt)"
    apt_install "${pkgs[@]}"
  fi
}

pom_hash() { sha256sum "$POM" | cut -d' ' -f1; }

install_kafka_libs() {
  local stamp="$LIBS/.pom.sha256" want
  want="$(pom_hash)"
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]] && compgen -G "$LIBS/kafka_2.13-*.jar" >/dev/null; then
    return
  fi
  note "resolving Kafka jars from $POM into $LIBS"
  mkdir -p "$CACHE_DIR"
  local tmp="$LIBS.tmp.$$"
  rm -rf "$tmp"
  # Resolve into a scratch folder and swap it in, so an interrupted download never leaves a
  # half-filled libs folder behind a valid stamp.
  if ! mvn -q -B -Dstyle.color=never -f "$POM" dependency:copy-dependencies \
      -DoutputDirectory="$tmp" -DincludeScope=runtime >"$CACHE_DIR/mvn.log" 2>&1; then
    cat "$CACHE_DIR/mvn.log" >&2
    rm -rf "$tmp"
    die "mvn could not resolve the Kafka jars (see above)"
  fi
  echo "$want" >"$tmp/.pom.sha256"
  rm -rf "$LIBS"
  mv "$tmp" "$LIBS"
}

cmd_install() {
  install_postgres
  install_java_maven
  install_kafka_libs
  install_node
  install_chromium
}

# ---------------------------------------------------------------------------------------------
# PostgreSQL
# ---------------------------------------------------------------------------------------------

# Debian's binaries: /usr/lib/postgresql/<major>/bin, newest major if several.
pg_bin_dir() {
  local d
  d="$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n1)"
  [[ -n "$d" && -x "$d/initdb" && -x "$d/pg_ctl" ]] || return 1
  echo "$d"
}

# initdb refuses root: as root, run the server tools as the `postgres` OS user.
pg_as_owner() {
  if is_root; then
    (cd / && runuser -u postgres -- "$@")
  else
    "$@"
  fi
}

pg_ctl_() { pg_as_owner "$PG_BIN/pg_ctl" -D "$PG_DIR/data" "$@"; }

pg_running() { [[ -f "$PG_DIR/data/PG_VERSION" ]] && pg_ctl_ status >/dev/null 2>&1; }

# psql over the unix socket as the bootstrap superuser (trust), quiet, stop on error.
pg_psql() {
  "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$PG_SOCK_DIR" -p "$PG_PORT" -U postgres -d postgres
}

pg_prepare_dirs() {
  mkdir -p "$STATE_DIR"
  if is_root; then
    id postgres >/dev/null 2>&1 || die "no 'postgres' OS user: run '$0 install' first"
    # The postgres user must reach the data directory. Where it cannot traverse the state dir's
    # parents (a repo under /root, say), keep the cluster under /var/tmp and link it in.
    if [[ ! -e "$PG_LINK" ]] && ! runuser -u postgres -- test -x "$STATE_DIR"; then
      local alt
      alt="/var/tmp/promptworks-pg-$(printf '%s' "$(cd "$STATE_DIR" && pwd -P)" | sha256sum | cut -c1-12)"
      mkdir -p "$alt"
      ln -sfn "$alt" "$PG_LINK"
      pg_paths
    fi
    mkdir -p "$PG_DIR" "$PG_SOCK_DIR"
    chown postgres:postgres "$PG_DIR" "$PG_SOCK_DIR"
  else
    mkdir -p "$PG_DIR" "$PG_SOCK_DIR"
  fi
}

pg_write_config() {
  local fast_settings extra_settings
  # `a=1;b=2` -> one `a = 1` line each; later lines win, so these override the ones above.
  extra_settings="$(tr ';' '\n' <<<"${PROMPTWORKS_PG_SETTINGS:-}" | sed -n 's/^ *\([a-z_.]*\) *= *\(.*\)$/\1 = \2/p')"
  if [[ "$PG_FAST" == 1 ]]; then
    fast_settings="fsync = off
synchronous_commit = off
full_page_writes = off"
  else
    fast_settings="fsync = on
synchronous_commit = on
full_page_writes = on"
  fi
  # Rewritten at every start, included from postgresql.conf: ports and PROMPTWORKS_PG_FAST apply
  # on the next start of an existing cluster too.
  pg_as_owner tee "$PG_DIR/data/promptworks.conf" >/dev/null <<EOF
# Written by deploy/local/infra.sh at each start; edits are lost.
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$PG_SOCK_DIR'
max_connections = 200
password_encryption = 'scram-sha-256'
$fast_settings
$extra_settings
EOF
  pg_as_owner tee "$PG_DIR/data/pg_hba.conf" >/dev/null <<EOF
# Written by deploy/local/infra.sh. Local development only.
# TYPE  DATABASE  USER  ADDRESS       METHOD
local   all       all                 trust
host    all       all   127.0.0.1/32  scram-sha-256
EOF
}

pg_init() {
  note "creating PostgreSQL cluster in $PG_DIR/data"
  # --auth: trust on the socket, scram-sha-256 over TCP (pg_hba.conf is rewritten right after).
  if ! pg_as_owner "$PG_BIN/initdb" -D "$PG_DIR/data" -U postgres -E UTF8 --locale=C.UTF-8 \
      --auth-local=trust --auth-host=scram-sha-256 >"$PG_DIR/initdb.log" 2>&1; then
    cat "$PG_DIR/initdb.log" >&2
    die "initdb failed"
  fi
  echo "include_if_exists = 'promptworks.conf'" | pg_as_owner tee -a "$PG_DIR/data/postgresql.conf" >/dev/null
}

# Binaries, directories and version match; fails early, starts nothing.
pg_check() {
  PG_BIN="$(pg_bin_dir)" || die "PostgreSQL is not installed: run '$0 install'"
  pg_prepare_dirs
  if [[ -f "$PG_DIR/data/PG_VERSION" ]]; then
    local have want
    have="$(cat "$PG_DIR/data/PG_VERSION")"
    want="$(basename "$(dirname "$PG_BIN")")"
    [[ "$have" == "$want" ]] || die "$PG_DIR/data is a PostgreSQL $have cluster but the installed server is $want; run '$0 reset'"
  fi
}

pg_start() {
  [[ -f "$PG_DIR/data/PG_VERSION" ]] || pg_init
  pg_write_config
  PG_STARTED=1
  # setsid: the postmaster gets its own session, so it outlives this script and its terminal.
  if ! pg_as_owner setsid -w "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/postgresql.log" \
      -w -t 60 -s start >/dev/null 2>&1 9>&-; then
    tail -n 20 "$PG_DIR/postgresql.log" >&2 || true
    die "PostgreSQL did not start; see $PG_DIR/postgresql.log"
  fi
}

pg_bootstrap() {
  local i
  for i in $(seq 1 50); do
    "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" && break
    ((i < 50)) || die "PostgreSQL does not answer on 127.0.0.1:$PG_PORT; see $PG_DIR/postgresql.log"
    sleep 0.2
  done
  # Role and databases, each only if absent (a no-op on an existing cluster). SUPERUSER: local
  # development only; migrations run CREATE EXTENSION pg_trgm.
  local sql db gexec=$'\n\\gexec\n'
  sql="SELECT format('CREATE ROLE %I LOGIN SUPERUSER PASSWORD %L', '$PG_USER', '$PG_PASSWORD')"
  sql+=" WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$PG_USER')$gexec"
  for db in "${DATABASES[@]}"; do
    sql+="SELECT format('CREATE DATABASE %I OWNER %I', '$db', '$PG_USER')"
    sql+=" WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$db')$gexec"
  done
  pg_psql <<<"$sql" >/dev/null
}

pg_stop() {
  PG_BIN="$(pg_bin_dir)" || return 0
  if pg_running; then
    pg_ctl_ stop -m fast -w -t 60 -s >/dev/null
  fi
}

# ---------------------------------------------------------------------------------------------
# Kafka
# ---------------------------------------------------------------------------------------------

check_java() {
  local java="${JAVA_HOME:+$JAVA_HOME/bin/}java" v
  command -v "$java" >/dev/null || die "no java found (Kafka 4.x needs Java 17+): run '$0 install'"
  v="$("$java" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p')"
  [[ "${v%%.*}" =~ ^[0-9]+$ && "${v%%.*}" -ge 17 ]] || die "Kafka 4.x needs Java 17+, found '$v' ($java)"
  JAVA="$java"
}

kafka_version() {
  local jar
  jar="$(compgen -G "$LIBS/kafka_2.13-*.jar" | head -n1)" || return 1
  jar="${jar##*/kafka_2.13-}"
  echo "${jar%.jar}"
}

# pid of this state dir's broker, if it runs (checked against its command line, not just the pid).
kafka_pid() {
  local pid
  [[ -f "$KAFKA_DIR/kafka.pid" ]] || return 1
  pid="$(cat "$KAFKA_DIR/kafka.pid")"
  [[ "$pid" =~ ^[0-9]+$ && -r "/proc/$pid/cmdline" ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF "kafka.Kafka $KAFKA_DIR/server.properties" || return 1
  echo "$pid"
}

# Kafka cluster ids are 16 random bytes in URL-safe base64 without padding (what
# `StorageTool random-uuid` prints), never starting with '-'.
kafka_cluster_id() {
  local id
  while :; do
    id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
    [[ "$id" != -* ]] && { echo "$id"; return; }
  done
}

kafka_write_config() {
  mkdir -p "$KAFKA_DIR/data" "$KAFKA_DIR/logs"
  # Rewritten at every start (ports may change; a static voter set makes that safe).
  cat >"$KAFKA_DIR/server.properties" <<EOF
# Written by deploy/local/infra.sh at each start; edits are lost.
# KRaft combined mode: one node is both broker and controller.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$KAFKA_DIR/data

# Single node: replication factor 1, min ISR 1, for user and internal topics.
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
# Fewer partitions for internal topics than the default 50: their creation (first consumer group,
# first transaction) is much faster, which tests notice.
offsets.topic.num.partitions=10
transaction.state.log.num.partitions=10

# Topics are created explicitly by the services; consumers join groups without waiting.
auto.create.topics.enable=false
num.partitions=3
group.initial.rebalance.delay.ms=0
message.max.bytes=16777216
EOF
}

kafka_format() {
  local out
  note "formatting Kafka storage in $KAFKA_DIR/data"
  if ! out="$("$JAVA" -Xmx256m -cp "$LIBS/*" -Dlog4j2.configurationFile="$LOG4J_CONFIG" \
      -Dkafka.logs.dir="$KAFKA_DIR/logs" kafka.tools.StorageTool format \
      -t "$(kafka_cluster_id)" -c "$KAFKA_DIR/server.properties" 2>&1)"; then
    echo "$out" >&2
    die "Kafka storage format failed"
  fi
}

# A Metadata request (api key 3, v4, all topics) over bash's /dev/tcp. Succeeds once the broker
# answers it with at least one live broker: the node has joined its own cluster and serves clients.
kafka_metadata_ok() {
  local hex
  hex="$(
    exec 3<>"/dev/tcp/127.0.0.1/$KAFKA_PORT" || exit 1
    # size=17 | api_key=3 api_version=4 correlation_id=1 client_id="pw" | topics=null(-1) auto_create=false
    printf '\x00\x00\x00\x11\x00\x03\x00\x04\x00\x00\x00\x01\x00\x02pw\xff\xff\xff\xff\x00' >&3
    # response: size(4) correlation_id(4) throttle_time_ms(4) brokers.count(4) ...
    timeout 2 head -c 16 <&3 | od -An -v -tx1 | tr -d ' \n'
  )" 2>/dev/null || return 1
  [[ ${#hex} == 32 && "${hex:8:8}" == 00000001 ]] || return 1
  ((16#${hex:24:8} >= 1 && 16#${hex:24:8} < 16#80000000))
}

kafka_check() {
  check_java
  compgen -G "$LIBS/kafka_2.13-*.jar" >/dev/null || die "no Kafka jars in $LIBS: run '$0 install'"
}

kafka_start() {
  kafka_write_config
  [[ -f "$KAFKA_DIR/data/meta.properties" ]] || kafka_format
  rm -f "$KAFKA_DIR/kafka.pid"
  # setsid + nohup: the broker outlives this script and its terminal. The inner shell writes its
  # own pid, then becomes java (exec), so the pid file always names the broker itself.
  # shellcheck disable=SC2016 # $$, $0 and $@ are the inner shell's
  nohup setsid bash -c 'echo $$ >"$0"; exec "$@"' "$KAFKA_DIR/kafka.pid" \
    "$JAVA" -Xmx"$KAFKA_HEAP" -Xms"$KAFKA_HEAP" -server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
    -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$LOG4J_CONFIG" -Dkafka.logs.dir="$KAFKA_DIR/logs" \
    -cp "$LIBS/*" kafka.Kafka "$KAFKA_DIR/server.properties" \
    </dev/null >"$KAFKA_DIR/stdout.log" 2>&1 9>&- &
  KAFKA_LAUNCHER=$!
}

kafka_wait() {
  local deadline=$((SECONDS + KAFKA_START_TIMEOUT))
  while :; do
    if port_open "$KAFKA_PORT" && kafka_metadata_ok; then
      return 0
    fi
    if ! kafka_pid >/dev/null && ! { [[ -n "$KAFKA_LAUNCHER" ]] && kill -0 "$KAFKA_LAUNCHER" 2>/dev/null; }; then
      tail -n 20 "$KAFKA_DIR/stdout.log" "$KAFKA_DIR/logs/server.log" >&2 2>/dev/null || true
      die "Kafka exited during startup; see $KAFKA_DIR/logs/server.log and $KAFKA_DIR/stdout.log"
    fi
    if ((SECONDS >= deadline)); then
      kafka_stop
      tail -n 20 "$KAFKA_DIR/logs/server.log" >&2 2>/dev/null || true
      die "Kafka did not answer on 127.0.0.1:$KAFKA_PORT within ${KAFKA_START_TIMEOUT}s; see $KAFKA_DIR/logs/server.log"
    fi
    sleep 0.25
  done
}

kafka_stop() {
  local pid i
  pid="$(kafka_pid)" || { rm -f "$KAFKA_DIR/kafka.pid"; return 0; }
  kill -TERM "$pid" 2>/dev/null || true
  # A clean shutdown of a single combined node takes a few seconds.
  for i in $(seq 1 240); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.25
  done
  if kill -0 "$pid" 2>/dev/null; then
    note "Kafka (pid $pid) did not stop within 60s; killing it"
    kill -KILL "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
  fi
  rm -f "$KAFKA_DIR/kafka.pid"
}

# ---------------------------------------------------------------------------------------------
# commands
# ---------------------------------------------------------------------------------------------

# One `up`/`down`/`reset` at a time per state dir. The servers started while it is held must not
# inherit fd 9 (launched with 9>&-), or they would hold the lock for their whole life.
lock_state() {
  mkdir -p "$STATE_DIR"
  exec 9>"$STATE_DIR/infra.lock"
  flock -w 120 9 || die "another infra.sh holds $STATE_DIR/infra.lock for more than 120s"
}

KAFKA_LAUNCHER=
PG_STARTED=0
UP_DONE=0

# On a failed `up`, stop what this run started: a retry then starts from a clean slate.
up_rollback() {
  [[ "$UP_DONE" == 1 ]] && return
  if [[ -n "$KAFKA_LAUNCHER" ]]; then
    kafka_stop || true
    kill "$KAFKA_LAUNCHER" 2>/dev/null || true
  fi
  if [[ "$PG_STARTED" == 1 ]]; then
    pg_stop || true
  fi
}

cmd_up() {
  lock_state
  kafka_check
  pg_check
  local pg_up=0 kafka_up=0 port
  pg_running && pg_up=1
  kafka_pid >/dev/null && kafka_up=1
  # Every port is checked before anything starts.
  if [[ "$pg_up" == 0 ]] && port_open "$PG_PORT"; then
    die "port $PG_PORT is in use by another process; set PROMPTWORKS_PG_PORT"
  fi
  if [[ "$kafka_up" == 0 ]]; then
    for port in "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT"; do
      port_open "$port" && die "port $port is in use by another process; set PROMPTWORKS_KAFKA_PORT / PROMPTWORKS_KAFKA_CONTROLLER_PORT"
    done
  fi
  trap up_rollback EXIT
  # Kafka's JVM starts in the background first; PostgreSQL starts meanwhile.
  [[ "$kafka_up" == 1 ]] || kafka_start
  [[ "$pg_up" == 1 ]] || pg_start
  pg_bootstrap
  kafka_wait
  UP_DONE=1
  local fast=""
  [[ "$PG_FAST" == 1 ]] && fast=" (fast)"
  echo "infra up: postgres 127.0.0.1:$PG_PORT$fast, kafka $(kafka_version) 127.0.0.1:$KAFKA_PORT, state $STATE_DIR"
}

cmd_up_postgres() {
  lock_state
  pg_check
  if ! pg_running; then
    port_open "$PG_PORT" && die "port $PG_PORT is in use by another process; set PROMPTWORKS_PG_PORT"
    trap up_rollback EXIT
    pg_start
  fi
  pg_bootstrap
  UP_DONE=1
  echo "infra up: postgres 127.0.0.1:$PG_PORT, state $STATE_DIR"
}

cmd_down() {
  lock_state
  kafka_stop
  pg_stop
}

cmd_crash_postgres() {
  lock_state
  PG_BIN="$(pg_bin_dir)" || die "PostgreSQL is not installed"
  if pg_running; then
    pg_ctl_ stop -m immediate -w -t 60 -s >/dev/null
  fi
}

cmd_crash_kafka() {
  local pid
  lock_state
  pid="$(kafka_pid)" || return 0
  kill -KILL "$pid" 2>/dev/null || true
  while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
  rm -f "$KAFKA_DIR/kafka.pid"
}

cmd_status() {
  local ok=0 pid port
  if PG_BIN="$(pg_bin_dir)" && pg_running; then
    # the port it really listens on (line 4 of postmaster.pid), whatever this shell's settings say
    port="$(sed -n 4p "$PG_DIR/data/postmaster.pid" 2>/dev/null)"
    echo "postgres: up    127.0.0.1:${port:-$PG_PORT}  data $PG_DIR/data"
  else
    echo "postgres: down"; ok=3
  fi
  if pid="$(kafka_pid)"; then
    port="$(sed -n 's|^listeners=PLAINTEXT://127.0.0.1:\([0-9]*\),.*|\1|p' "$KAFKA_DIR/server.properties")"
    KAFKA_PORT="${port:-$KAFKA_PORT}"
    if port_open "$KAFKA_PORT" && kafka_metadata_ok; then
      echo "kafka:    up    127.0.0.1:$KAFKA_PORT  pid $pid  data $KAFKA_DIR/data"
    else
      echo "kafka:    starting or not answering (pid $pid); see $KAFKA_DIR/logs/server.log"; ok=3
    fi
  else
    echo "kafka:    down"; ok=3
  fi
  return "$ok"
}

cmd_env() {
  cat <<EOF
export DATABASE_URL_BASE=postgresql+asyncpg://$PG_USER:$PG_PASSWORD@127.0.0.1:$PG_PORT
export PGHOST=127.0.0.1
export PGPORT=$PG_PORT
export PGUSER=$PG_USER
export PGPASSWORD=$PG_PASSWORD
export PGDATABASE=postgres
export KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:$KAFKA_PORT
EOF
}

cmd_reset() {
  cmd_down
  # A cluster or socket dir kept outside the state dir (see pg_prepare_dirs) goes too.
  if [[ -L "$PG_LINK" ]]; then
    rm -rf "$PG_DIR"
  fi
  if [[ "$PG_SOCK_DIR" != "$PG_DIR/run" ]]; then
    rm -rf "$PG_SOCK_DIR"
  fi
  # Only what this script put there, then the folder itself if nothing else is left: another
  # stack's state dir may live inside this one (tests use .local/test-stack).
  rm -rf "${PG_LINK:?}" "${KAFKA_DIR:?}" "$STATE_DIR/infra.lock" "$STATE_DIR/.infra.lock"
  rmdir "$STATE_DIR" 2>/dev/null || true
}

usage() {
  sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
}

case "${1:-}" in
  install) cmd_install ;;
  up) cmd_up ;;
  up-postgres) cmd_up_postgres ;;
  down) cmd_down ;;
  status) cmd_status ;;
  env) cmd_env ;;
  reset) cmd_reset ;;
  crash-postgres) cmd_crash_postgres ;;
  crash-kafka) cmd_crash_kafka ;;
  -h | --help | help) usage ;;
  *) usage >&2; exit 2 ;;
esac
