#!/usr/bin/env bash
# Instructions per request of one or more berth-edge builds, counted by callgrind: repeatable
# on a noisy machine where wall-clock benchmarks are not (an A/B of a change: the same
# requests on both binaries). A keep-alive client sends the same requests to each build;
# counting starts after a warm-up and ends with an explicit dump (the exit dump that follows
# is not counted). User-space instructions only: the kernel's share is not in these figures.
#
# usage: scripts/callgrind_ab.sh [REQUESTS] BINARY...      (default 4000 requests per workload)
set -euo pipefail
cd "$(dirname "$0")/.."
N=4000
[[ ${1:-} =~ ^[0-9]+$ ]] && { N=$1; shift; }
(($#)) || { echo "usage: $0 [REQUESTS] BINARY..." >&2; exit 2; }
command -v valgrind >/dev/null || { echo "valgrind missing" >&2; exit 1; }
WORK=$(mktemp -d /tmp/berth-callgrind.XXXXXX)
PID=""
cleanup() { [[ -n $PID ]] && kill "$PID" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
SITE=$WORK/deployments/site
mkdir -p "$SITE/assets"
head -c 1024 /dev/zero | tr '\0' 'a' > "$SITE/1k.txt"
printf '<!doctype html><title>app</title>\n' > "$SITE/index.html"
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# Sends COUNT requests for PATH over 4 keep-alive connections, reading each answer whole.
client() {
  python3 - "$1" "$2" "$3" <<'PY'
import re, socket, sys
port, path, count = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
conns = [socket.create_connection(("127.0.0.1", port)) for _ in range(4)]
req = f"GET {path} HTTP/1.1\r\nHost: site.bench.test\r\n\r\n".encode()
for i in range(count):
    s = conns[i % 4]
    s.sendall(req)
    data = b""
    while b"\r\n\r\n" not in data:
        data += s.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    need = int(re.search(rb"(?i)content-length:\s*(\d+)", head).group(1))
    while len(body) < need:
        body += s.recv(65536)
PY
}
printf '%-40s %12s %12s %12s\n' binary "1k Ir/req" "spa Ir/req" "404 Ir/req"
for bin in "$@"; do
  row=()
  for w in /1k.txt /dashboard/settings /assets/app.3f9a.js; do
    p=$(port)
    valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$WORK/cg.out" \
      "$bin" --listen 127.0.0.1:$p --deployments "$WORK/deployments" --base-domain bench.test \
      --workers 1 --io-uring false >"$WORK/edge.log" 2>&1 &
    PID=$!
    for _ in $(seq 1 200); do (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null && break; sleep 0.1; done
    client $p $w 200                       # warm-up: caches filled, not counted
    callgrind_control -i on $PID >/dev/null
    client $p $w $N
    callgrind_control -d $PID >/dev/null
    callgrind_control -i off $PID >/dev/null
    kill $PID; wait $PID 2>/dev/null || true; PID=""
    total=$(cat "$WORK"/cg.out.[0-9]* | awk '/^summary:/{s+=$2} END{printf "%d", s}')
    [[ -n ${DEBUG:-} ]] && grep -H summary "$WORK"/cg.out* >&2
    row+=("$(awk -v t=$total -v n=$N 'BEGIN{printf "%.0f", t/n}')")
    rm -f "$WORK"/cg.out*
  done
  printf '%-40s %12s %12s %12s\n' "$bin" "${row[@]}"
done
