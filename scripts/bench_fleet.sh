#!/usr/bin/env bash
# Fleet propagation benchmark: a private redis-server and EDGES berth-edges following it
# ([redis] url, one worker each); bench/fleet_bench.c publishes route tables the way
# berth-control does and measures publish -> every edge has installed and acknowledged it,
# for a small and a large table; then tables whose deployment files each edge must first fetch
# from Redis and unpack (a site of FILES files, ~20 MB, packed as control packs it: a gzip'd
# tar). Loopback only; everything runs in a temp dir.
# usage: scripts/bench_fleet.sh [BUILD_DIR]   (env: EDGES=3, TABLES=50, FILES=1000)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
EDGES=${EDGES:-3}
TABLES=${TABLES:-50}
FILES=${FILES:-1000}
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

names=()
for i in $(seq "$EDGES"); do
  name="bench-$i"
  names+=("$name")
  # Each edge as if on its own host: its own deployments_root.
  mkdir -p "$TMP/$name-deployments/site/v1"
  echo fleet > "$TMP/$name-deployments/site/v1/index.html"
  cat >"$TMP/$name.toml" <<TOML
[edge]
workers = 1
deployments_root = "$TMP/$name-deployments"
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

# A site: FILES files of 20 KB, half text (compresses) and half random (does not).
mkdir -p "$TMP/site/assets"
python3 - "$TMP/site" "$FILES" <<'PY'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    data = os.urandom(20000) if i % 2 else (b"<p>berth fleet %d</p>\n" % i) * 900
    with open(os.path.join(root, "assets", "f%05d.%s" % (i, "bin" if i % 2 else "html")), "wb") as f:
        f.write(data[:20000])
with open(os.path.join(root, "index.html"), "w") as f:
    f.write("fleet files\n")
PY
start=$(date +%s%N)
tar -C "$TMP/site" -czf "$TMP/site.tgz" .
echo "packing the site (gzip'd tar, as control does before publishing): $(( ($(date +%s%N) - start) / 1000000 )) ms for $(du -sb "$TMP/site" | cut -f1) bytes -> $(stat -c %s "$TMP/site.tgz") bytes"
"$TMP/fleet_bench" "$REDIS_PORT" "files=$TMP/site.tgz" 10 100001 "${names[@]}"
