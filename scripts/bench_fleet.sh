#!/usr/bin/env bash
# Fleet propagation benchmark: a private redis-server and EDGES berth-edges following it
# ([redis] url, one worker each); bench/fleet_bench.c publishes route tables the way
# berth-control does and measures publish -> every edge has installed and acknowledged it,
# for a small and a large table. Loopback only; everything runs in a temp dir.
# usage: scripts/bench_fleet.sh [BUILD_DIR]   (env: EDGES=3, TABLES=50)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
EDGES=${EDGES:-3}
TABLES=${TABLES:-50}
[[ -x $BUILD/bin/berth-edge ]] || { echo "bench_fleet: $BUILD/bin/berth-edge not built" >&2; exit 1; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
TMP=$(mktemp -d /tmp/berth-bench-fleet-XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$TMP"
}
trap cleanup EXIT

cc -O2 -o "$TMP/fleet_bench" bench/fleet_bench.c -lhiredis
REDIS_PORT=$(free_port)
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --dir "$TMP" \
  >"$TMP/redis.log" 2>&1 &
pids+=($!)
until redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; do sleep 0.05; done

mkdir -p "$TMP/deployments/site/v1"
echo fleet > "$TMP/deployments/site/v1/index.html"
names=()
for i in $(seq "$EDGES"); do
  name="bench-$i"
  names+=("$name")
  cat >"$TMP/$name.toml" <<TOML
[edge]
workers = 1
deployments_root = "$TMP/deployments"
state_dir = "$TMP/$name-state"
[[listen]]
addr = "127.0.0.1:0"
[redis]
url = "redis://127.0.0.1:$REDIS_PORT"
name = "$name"
TOML
  "$BUILD/bin/berth-edge" --config "$TMP/$name.toml" >"$TMP/$name.log" 2>&1 &
  pids+=($!)
done
for name in "${names[@]}"; do
  until grep -q "following route tables" "$TMP/$name.log"; do sleep 0.05; done
done

"$TMP/fleet_bench" "$REDIS_PORT" 200 "$TABLES" 1 "${names[@]}"
"$TMP/fleet_bench" "$REDIS_PORT" 2000 "$TABLES" 1001 "${names[@]}"
