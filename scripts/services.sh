#!/usr/bin/env bash
# Runs the real services berth-control needs, privately, under .berth/:
#   PostgreSQL 15 cluster in .berth/pg (socket in that directory, TCP on 127.0.0.1:$BERTH_PG_PORT)
#   redis-server in .berth/redis (127.0.0.1:$BERTH_REDIS_PORT, no persistence)
# and creates .berth/encryption.key. Usage: scripts/services.sh start|stop|status
# Both require a password, made here once (0600): .berth/pg.password (and .berth/pgpass, the
# libpq passfile conf/control.toml names) and .berth/redis.password ([redis] password_file).
# Builds run users' code on this machine with network access: loopback alone must not let
# them in. A cluster or Redis made by an older version without passwords gets them here.
# Processes are stopped by the PIDs in their pid files only. BERTH_STATE_DIR, BERTH_PG_PORT and
# BERTH_REDIS_PORT override the directory and ports (scripts/bench_api.sh uses a temp dir).
set -euo pipefail
cd "$(dirname "$0")/.."

PG_BIN=${BERTH_PG_BIN:-/usr/lib/postgresql/15/bin}
PG_PORT=${BERTH_PG_PORT:-54329}
REDIS_PORT=${BERTH_REDIS_PORT:-63799}
ROOT=${BERTH_STATE_DIR:-$PWD/.berth}
PG_DIR=$ROOT/pg
REDIS_DIR=$ROOT/redis
PG_PASSWORD_FILE=$ROOT/pg.password
REDIS_PASSWORD_FILE=$ROOT/redis.password

# PostgreSQL refuses to run as root: use the postgres user then.
as_pg() {
  if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# A random password in a file only its owner reads, once.
make_secret() {
  [[ -s $1 ]] || (umask 077; od -An -tx1 -N24 /dev/urandom | tr -d ' \n' > "$1")
}

# psql as the berth role over TCP, with the password (never on a command line).
pg_sql() {
  PGPASSWORD=$(cat "$PG_PASSWORD_FILE") as_pg "$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U berth "$@"
}

pg_running() { as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" status >/dev/null 2>&1; }
redis_pid() { [[ -f $REDIS_DIR/redis.pid ]] && cat "$REDIS_DIR/redis.pid"; }
redis_running() { local p; p=$(redis_pid) && kill -0 "$p" 2>/dev/null; }

start() {
  mkdir -p "$ROOT" "$PG_DIR" "$REDIS_DIR"
  if [[ ! -f $ROOT/encryption.key ]]; then
    (umask 077; od -An -tx1 -N32 /dev/urandom | tr -d ' \n' > "$ROOT/encryption.key")
    echo "created $ROOT/encryption.key"
  fi
  make_secret "$PG_PASSWORD_FILE"
  make_secret "$REDIS_PASSWORD_FILE"
  (umask 077; echo "*:*:*:berth:$(cat "$PG_PASSWORD_FILE")" > "$ROOT/pgpass")
  [[ $(id -u) -eq 0 ]] && chown postgres "$PG_DIR"
  if [[ ! -f $PG_DIR/data/PG_VERSION ]]; then
    # initdb reads the password from a file the postgres user can open; gone right after.
    (umask 077; cp "$PG_PASSWORD_FILE" "$PG_DIR/initdb.pw")
    [[ $(id -u) -eq 0 ]] && chown postgres "$PG_DIR/initdb.pw"
    as_pg "$PG_BIN/initdb" -D "$PG_DIR/data" -U berth -A scram-sha-256 --pwfile="$PG_DIR/initdb.pw" \
      -E UTF8 --no-instructions >"$PG_DIR/initdb.log"
    rm -f "$PG_DIR/initdb.pw"
  fi
  if pg_running; then
    echo "postgres already running"
  else
    as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/postgres.log" -w \
      -o "-p $PG_PORT -k $PG_DIR -c listen_addresses=127.0.0.1" start >/dev/null
    echo "postgres on 127.0.0.1:$PG_PORT (socket in $PG_DIR)"
  fi
  if grep -Eq '^[^#]*[[:space:]]trust([[:space:]]|$)' "$PG_DIR/data/pg_hba.conf"; then
    # Made without a password (trust): set one, then require it.
    echo "ALTER ROLE berth PASSWORD '$(cat "$PG_PASSWORD_FILE")'" |
      as_pg "$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U berth -d postgres -q
    as_pg sed -i -E 's/^([^#]*[[:space:]])trust([[:space:]]|$)/\1scram-sha-256\2/' \
      "$PG_DIR/data/pg_hba.conf"
    as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" reload >/dev/null
    echo "postgres now requires the password in $PG_PASSWORD_FILE"
  fi
  if ! pg_sql -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'berth'" | grep -q 1; then
    pg_sql -d postgres -qc "CREATE DATABASE berth"
  fi
  # The password goes in a config file (0600), not on redis-server's command line.
  (umask 077; echo "requirepass $(cat "$REDIS_PASSWORD_FILE")" > "$REDIS_DIR/redis.conf")
  if redis_running; then
    if [[ $(redis-cli -p "$REDIS_PORT" ping 2>/dev/null) == PONG ]]; then
      # Started by an older version without a password: require it from now on.
      redis-cli -p "$REDIS_PORT" -x config set requirepass < <(tr -d '\n' < "$REDIS_PASSWORD_FILE") >/dev/null
      echo "redis now requires the password in $REDIS_PASSWORD_FILE"
    fi
    echo "redis already running"
  else
    redis-server "$REDIS_DIR/redis.conf" --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$REDIS_DIR" \
      --save "" --appendonly no --daemonize yes --pidfile "$REDIS_DIR/redis.pid" \
      --logfile "$REDIS_DIR/redis.log"
    for _ in $(seq 100); do
      REDISCLI_AUTH=$(cat "$REDIS_PASSWORD_FILE") redis-cli -p "$REDIS_PORT" ping 2>/dev/null |
        grep -q PONG && break
      sleep 0.05
    done
    echo "redis on 127.0.0.1:$REDIS_PORT"
  fi
}

stop() {
  if pg_running; then as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w stop >/dev/null; echo "postgres stopped"; fi
  if redis_running; then
    local p; p=$(redis_pid)
    kill "$p"
    for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.05; done
    rm -f "$REDIS_DIR/redis.pid"
    echo "redis stopped"
  fi
}

status() {
  local rc=0
  if pg_running; then echo "postgres: running on 127.0.0.1:$PG_PORT"; else echo "postgres: stopped"; rc=3; fi
  if redis_running; then echo "redis: running on 127.0.0.1:$REDIS_PORT (pid $(redis_pid))"; else echo "redis: stopped"; rc=3; fi
  return $rc
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
