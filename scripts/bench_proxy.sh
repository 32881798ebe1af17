#!/usr/bin/env bash
# Proxy benchmark (#14): 1 KiB answers, keep-alive on both sides, one upstream (an nginx
# serving a file, pinned to the load generator's core, CPU 1). berth-edge, nginx and HAProxy
# proxy to it, each one worker/thread pinned to CPU 0; wrk (one thread, 64 connections) on
# CPU 1. The figure is requests per server CPU second (the proxy's own process), with the
# ratio to nginx within each round (rounds interleave the servers; the machine is shared).
#
# "floor" is bench/relay_floor.c: a byte relay with one upstream connection per client and no
# HTTP at all, the least work any proxy can do here (issue #14 asks for target, floor and
# berth side by side). After the HTTP rounds, a WebSocket echo workload (bench/ws_bench.c:
# an echo upstream on CPU 1 and a load generator keeping one message in flight per
# connection) gives messages per server CPU second; BENCH_WS=0 skips it.
#
# usage: scripts/bench_proxy.sh [seconds, default 8]   BENCH_REPEAT=3 rounds
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${1:-8}
REPEAT=${BENCH_REPEAT:-3}
CONNS=${BENCH_CONNS:-64}
BERTH=${BERTH_EDGE:-build/bin/berth-edge}
SERVERS=${BENCH_PROXY_SERVERS:-"berth nginx haproxy floor"}
WS=${BENCH_WS:-1}
WS_SIZE=${BENCH_WS_SIZE:-128}
[[ -x $BERTH ]] || { echo "build first: cmake --build build" >&2; exit 1; }
for tool in wrk nginx haproxy; do
  command -v $tool >/dev/null || { echo "$tool missing: run scripts/setup.sh" >&2; exit 1; }
done

WORK=$(mktemp -d /tmp/berth-bench-proxy.XXXXXX)
chmod 755 "$WORK"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.05; done; echo "port $1 did not open" >&2; return 1; }
nginx_conf() { # dir, body of the http block
  cat > $1/nginx.conf <<CONF
worker_processes 1;
daemon off;
pid $1/nginx.pid;
error_log $1/error.log crit;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 100000000;
  client_body_temp_path $1; proxy_temp_path $1; fastcgi_temp_path $1; uwsgi_temp_path $1; scgi_temp_path $1;
  $2
}
CONF
}

cc -O2 -o $WORK/relay_floor bench/relay_floor.c
cc -O2 -o $WORK/ws_bench bench/ws_bench.c -lcrypto

# The upstream: nginx serving 1 KiB, on the load generator's core.
mkdir -p $WORK/site $WORK/up
head -c 1024 /dev/urandom | base64 -w 76 | head -c 1024 > $WORK/site/1k.txt
UP=$(free_port)
nginx_conf $WORK/up "server { listen 127.0.0.1:$UP reuseport; root $WORK/site; }"
taskset -c 1 nginx -c $WORK/up/nginx.conf -p $WORK/up >/dev/null 2>&1 &
PIDS+=($!); wait_port $UP
WS_UP=$(free_port)
taskset -c 1 $WORK/ws_bench server $WS_UP &
PIDS+=($!); wait_port $WS_UP

declare -A PORT PID
start_berth() {
  local port=$1
  cat > $WORK/routes.json <<JSON
{"version": 1, "routes": [{"host": "app.bench.test", "type": "proxy",
  "upstreams": [{"addr": "127.0.0.1:$UP"}], "pool": {"max_idle": 256}},
 {"host": "ws.bench.test", "type": "proxy", "websocket": true,
  "upstreams": [{"addr": "127.0.0.1:$WS_UP"}]}]}
JSON
  taskset -c 0 "$BERTH" --listen 127.0.0.1:$port --routes $WORK/routes.json --workers 1 \
    ${BENCH_BERTH_ARGS:-} >$WORK/berth.log 2>&1 &
  PIDS+=($!); SERVER_PID=$!; wait_port $port
}
start_nginx() {
  local port=$1; mkdir -p $WORK/nginx
  nginx_conf $WORK/nginx "upstream app { server 127.0.0.1:$UP; keepalive 256; }
  upstream ws { server 127.0.0.1:$WS_UP; }
  server { listen 127.0.0.1:$port reuseport;
    location /ws { proxy_pass http://ws; proxy_http_version 1.1; proxy_set_header Upgrade \$http_upgrade;
                   proxy_set_header Connection \"upgrade\"; proxy_read_timeout 600s; }
    location / { proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection \"\";
                 proxy_set_header Host \$host; proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
                 proxy_set_header X-Real-IP \$remote_addr; proxy_buffering on; } }"
  taskset -c 0 nginx -c $WORK/nginx/nginx.conf -p $WORK/nginx >/dev/null 2>&1 &
  PIDS+=($!); wait_port $port
  SERVER_PID=$(pgrep -P "${PIDS[-1]}" | head -1)
}
start_haproxy() {
  local port=$1; mkdir -p $WORK/haproxy
  cat > $WORK/haproxy/haproxy.cfg <<CFG
global
  nbthread 1
  maxconn 4096
defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  option http-keep-alive
  option forwardfor
  http-reuse always
frontend fe
  bind 127.0.0.1:$port
  use_backend ws if { path_beg /ws }
  default_backend be
backend be
  server up 127.0.0.1:$UP
backend ws
  timeout tunnel 600s
  server ws 127.0.0.1:$WS_UP
CFG
  taskset -c 0 haproxy -f $WORK/haproxy/haproxy.cfg -db >/dev/null 2>&1 &
  PIDS+=($!); SERVER_PID=$!; wait_port $port
}
start_floor() {
  local port=$1
  taskset -c 0 $WORK/relay_floor $port $UP &
  PIDS+=($!); SERVER_PID=$!; wait_port $port
  # A second floor relay for the WebSocket workload (it has one upstream).
  WS_FLOOR_PORT=$(free_port)
  taskset -c 0 $WORK/relay_floor $WS_FLOOR_PORT $WS_UP &
  PIDS+=($!); WS_FLOOR_PID=$!; wait_port $WS_FLOOR_PORT
}
for s in $SERVERS; do
  port=$(free_port); start_$s $port; PORT[$s]=$port; PID[$s]=$SERVER_PID
done

HZ=$(getconf CLK_TCK)
# Rows: server, round, count, server CPU seconds, rate, p99, errors. Prints the best count per
# CPU second of each server and its ratios to nginx's in the same rounds.
summarize() {
  python3 - "$1" "$2" <<'PY'
import sys, collections, statistics
unit = sys.argv[2]
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
per = collections.defaultdict(dict)
for s, rnd, count, cpu, rate, p99, bad in rows:
    per[rnd][s] = (float(count) / float(cpu) if float(cpu) > 0 else 0, rate, p99, bad)
print(f"{'server':8} {unit + '/CPU-s (best)':>16} {unit + '/s':>9} {'p99':>9} {'errors':>7} {'vs nginx per round (median, min-max)':>38}")
for s in sorted({r[0] for r in rows}):
    best = max((v[s] for v in per.values() if s in v), key=lambda x: x[0])
    ratios = [v[s][0] / v["nginx"][0] for v in per.values() if s in v and v.get("nginx", (0,))[0] > 0]
    rr = f"{statistics.median(ratios):.2f}x ({min(ratios):.2f}-{max(ratios):.2f})" if ratios else ""
    print(f"{s:8} {best[0]:>16.0f} {best[1]:>9} {best[2]:>9} {best[3]:>7} {rr:>38}")
PY
}
cpu_ticks() { awk '{print $14+$15}' /proc/$1/stat; }
RESULTS=$WORK/results.tsv; : > $RESULTS
read -ra ORDER <<<"$SERVERS"
for round in $(seq 1 "$REPEAT"); do
  for s in "${ORDER[@]}"; do
    port=${PORT[$s]}; pid=${PID[$s]}
    taskset -c 1 wrk -t1 -c$CONNS -d1s -H "Host: app.bench.test" http://127.0.0.1:$port/1k.txt >/dev/null 2>&1 || true
    t0=$(cpu_ticks $pid)
    out=$(taskset -c 1 wrk -t1 -c$CONNS -d${DUR}s --latency -H "Host: app.bench.test" http://127.0.0.1:$port/1k.txt 2>&1)
    t1=$(cpu_ticks $pid)
    reqs=$(awk '/requests in/{print $1}' <<<"$out")
    non2xx=$(awk '/Non-2xx/{print $NF}' <<<"$out")
    p99=$(awk '$1=="99%"{print $2}' <<<"$out")
    rps=$(awk '/Requests\/sec/{print $2}' <<<"$out")
    cpu=$(awk -v a=$t0 -v b=$t1 -v hz=$HZ 'BEGIN{printf "%.2f", (b-a)/hz}')
    echo -e "$s\t$round\t$reqs\t$cpu\t$rps\t$p99\t${non2xx:-0}" >> $RESULTS
  done
  ORDER=("${ORDER[@]:1}" "${ORDER[0]}")
done
summarize "$RESULTS" req

[[ $WS == 1 ]] || exit 0
# WebSocket echo: messages per server CPU second, same rounds and ratios as above.
WS_RESULTS=$WORK/ws.tsv; : > $WS_RESULTS
read -ra ORDER <<<"$SERVERS"
for round in $(seq 1 "$REPEAT"); do
  for s in "${ORDER[@]}"; do
    port=${PORT[$s]}; pid=${PID[$s]}
    [[ $s == floor ]] && { port=$WS_FLOOR_PORT; pid=$WS_FLOOR_PID; }
    t0=$(cpu_ticks $pid)
    out=$(taskset -c 1 $WORK/ws_bench client $port ws.bench.test $CONNS $DUR $WS_SIZE 2>&1)
    t1=$(cpu_ticks $pid)
    msgs=$(awk '{print $2}' <<<"$out"); errs=$(awk '{print $4}' <<<"$out")
    cpu=$(awk -v a=$t0 -v b=$t1 -v hz=$HZ 'BEGIN{printf "%.2f", (b-a)/hz}')
    rate=$(awk -v m=${msgs:-0} -v d=$DUR 'BEGIN{printf "%.0f", m/d}')
    echo -e "$s\t$round\t${msgs:-0}\t$cpu\t$rate\t-\t${errs:-?}" >> $WS_RESULTS
  done
  ORDER=("${ORDER[@]:1}" "${ORDER[0]}")
done
echo
echo "WebSocket echo, $WS_SIZE-byte messages, $CONNS connections, one in flight each:"
summarize "$WS_RESULTS" msg
