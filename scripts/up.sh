#!/usr/bin/env bash
# The whole platform locally, in the foreground: private PostgreSQL and Redis
# (scripts/services.sh), `berth-control serve` and `berth-edge`, with configs that agree (the
# same deployments root; control pushes route tables to the edge's admin socket; file://
# repositories allowed, in this local mode only). Their logs go to this terminal, prefixed
# [control] and [edge]. Ctrl-C stops everything this script started, by PID.
#
# Environment (all optional; the defaults are the ports and paths of conf/*.toml):
#   BERTH_STATE_DIR   state directory (default .berth): databases, deployments, sockets
#   BERTH_PG_PORT, BERTH_REDIS_PORT   ports of the private PostgreSQL (54329) and Redis (63799)
#   BERTH_API_LISTEN  berth-control API address (127.0.0.1:8700)
#   BERTH_EDGE_LISTEN berth-edge HTTP address (127.0.0.1:8080)
#   BERTH_BUILD_DIR   where bin/berth-control and bin/berth-edge are (build)
set -euo pipefail
cd "$(dirname "$0")/.."

ROOT=${BERTH_STATE_DIR:-$PWD/.berth}
mkdir -p "$ROOT"
ROOT=$(cd "$ROOT" && pwd)
export BERTH_STATE_DIR=$ROOT
PG_PORT=${BERTH_PG_PORT:-54329}
REDIS_PORT=${BERTH_REDIS_PORT:-63799}
export BERTH_PG_PORT=$PG_PORT BERTH_REDIS_PORT=$REDIS_PORT
API_LISTEN=${BERTH_API_LISTEN:-127.0.0.1:8700}
EDGE_LISTEN=${BERTH_EDGE_LISTEN:-127.0.0.1:8080}
BIN=${BERTH_BUILD_DIR:-build}/bin

for b in berth-control berth-edge; do
  if [[ ! -x $BIN/$b ]]; then
    echo "up.sh: $BIN/$b is missing: run scripts/setup.sh (or build) first" >&2
    exit 2
  fi
done

# Stop what this script started, newest first, each by its PID. Services that were already
# running before up.sh are left running.
pids=()
started_services=0
cleanup() {
  trap - INT TERM EXIT
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill -TERM "${pids[i]}" 2>/dev/null || true
  done
  for p in "${pids[@]}"; do
    wait "$p" 2>/dev/null || true
  done
  if ((started_services)); then scripts/services.sh stop | sed 's/^/[services] /'; fi
  echo "up.sh: stopped"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if ! scripts/services.sh status >/dev/null 2>&1; then started_services=1; fi
scripts/services.sh start | sed 's/^/[services] /'

# Configs that agree: control's copy differs from conf/control.toml only in the addresses and
# paths below and in allow_file_urls (local repositories, this local mode only). The health
# check requests each new deployment through the edge's listen address (http_addresses).
mkdir -p "$ROOT/deployments" "$ROOT/edge-state" "$ROOT/builds" "$ROOT/cache"
if [[ ! -e $ROOT/deployments/demo ]]; then cp -r conf/demo-deployments/demo "$ROOT/deployments/"; fi
SOCKET=$ROOT/edge-admin.sock
CONFIG=$ROOT/control.toml
sed -e "s|^listen = .*|listen = \"$API_LISTEN\"|" \
    -e "s|^url = \"postgresql://.*|url = \"postgresql://berth@127.0.0.1:$PG_PORT/berth?connect_timeout=3\&passfile=$ROOT/pgpass\"|" \
    -e "s|^url = \"redis://.*|url = \"redis://127.0.0.1:$REDIS_PORT\"|" \
    -e "s|^password_file = .*|password_file = \"$ROOT/redis.password\"|" \
    -e "s|^deployments_root = .*|deployments_root = \"$ROOT/deployments\"|" \
    -e "s|^builds_dir = .*|builds_dir = \"$ROOT/builds\"|" \
    -e "s|^cache_dir = .*|cache_dir = \"$ROOT/cache\"|" \
    -e "s|^uploads_dir = .*|uploads_dir = \"$ROOT/uploads\"|" \
    -e "s|^admin_sockets = .*|admin_sockets = [\"$SOCKET\"]|" \
    -e "s|^http_addresses = .*|http_addresses = [\"$EDGE_LISTEN\"]|" \
    -e "s|^encryption_key_file = .*|encryption_key_file = \"$ROOT/encryption.key\"|" \
    -e "s|^allow_file_urls = .*|allow_file_urls = true|" \
    conf/control.toml > "$CONFIG"
"$BIN/berth-control" --config "$CONFIG" migrate | sed 's/^/[control] /'

"$BIN/berth-edge" --config conf/edge.toml --listen "$EDGE_LISTEN" \
  --deployments "$ROOT/deployments" --admin-socket "$SOCKET" --state-dir "$ROOT/edge-state" \
  > >(sed -u 's/^/[edge] /') 2>&1 &
pids+=($!)
"$BIN/berth-control" --config "$CONFIG" serve > >(sed -u 's/^/[control] /') 2>&1 &
pids+=($!)

cat <<EOF
up.sh: edge on http://$EDGE_LISTEN, API on http://$API_LISTEN/api/v1/, state in $ROOT
up.sh: control config $CONFIG; Ctrl-C stops everything
EOF

# Runs until one of them exits (or Ctrl-C); the EXIT trap stops the rest.
set +e
wait -n "${pids[@]}"
rc=$?
echo "up.sh: a process exited ($rc); stopping the rest" >&2
exit "$rc"
