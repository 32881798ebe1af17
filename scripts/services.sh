#!/usr/bin/env bash
# Runs the real services berth-control needs, privately, under .berth/:
#   PostgreSQL 15 cluster in .berth/pg (socket in that directory, TCP on 127.0.0.1:$BERTH_PG_PORT)
#   redis-server in .berth/redis (127.0.0.1:$BERTH_REDIS_PORT, no persistence)
# and creates .berth/encryption.key. Usage: scripts/services.sh start|stop|status
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

# PostgreSQL refuses to run as root: use the postgres user then.
as_pg() {
  if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
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
  [[ $(id -u) -eq 0 ]] && chown postgres "$PG_DIR"
  if [[ ! -f $PG_DIR/data/PG_VERSION ]]; then
    as_pg "$PG_BIN/initdb" -D "$PG_DIR/data" -U berth -A trust -E UTF8 --no-instructions >"$PG_DIR/initdb.log"
  fi
  if pg_running; then
    echo "postgres already running"
  else
    as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/postgres.log" -w \
      -o "-p $PG_PORT -k $PG_DIR -c listen_addresses=127.0.0.1" start >/dev/null
    echo "postgres on 127.0.0.1:$PG_PORT (socket in $PG_DIR)"
  fi
  if ! as_pg "$PG_BIN/../bin/psql" -h 127.0.0.1 -p "$PG_PORT" -U berth -d postgres -tAc \
      "SELECT 1 FROM pg_database WHERE datname = 'berth'" | grep -q 1; then
    as_pg "$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U berth berth
  fi
  if redis_running; then
    echo "redis already running"
  else
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$REDIS_DIR" --save "" --appendonly no \
      --daemonize yes --pidfile "$REDIS_DIR/redis.pid" --logfile "$REDIS_DIR/redis.log"
    for _ in $(seq 100); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.05; done
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
