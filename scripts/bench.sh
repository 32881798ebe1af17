#!/usr/bin/env bash
# Side-by-side benchmark: berth-edge vs nginx, h2o and lighttpd on the same static fixture.
# Each server runs one worker pinned to CPU 0; wrk (one thread) runs on CPU 1. The figure that
# decides is requests per server CPU second (wrk saturates before a fast server does), reported
# with the ratio against nginx measured in the same run. Loopback only; every server is our
# own instance on a free port with its own config (system services are never touched).
#
# usage: scripts/bench.sh [seconds per workload, default 8]
#   BENCH_SERVERS="berth nginx"  pick servers      BENCH_BERTH_ARGS="--config f.toml" extra flags
#   BENCH_API=0  skip the control-plane API workload (scripts/bench_api.sh) at the end
#   BENCH_FLEET=0  skip the fleet propagation workload (scripts/bench_fleet.sh) at the end
#   BENCH_REPEAT=2  rounds: each server's best round is reported, and the median and range of
#   the ratio within each round (the machine is shared and noisy)
#   BENCH_IDLE=9000  idle keep-alive connections for the RSS-per-connection figure (0: skip)
#   BENCH_BERTH_B=path  a second berth-edge binary (an A/B of two builds in one run): add
#   "berthb" to BENCH_SERVERS
#   BENCH_ONLY="tls1k 404"  run only these workloads
#   BENCH_TLS=0  skip the HTTPS workloads (tls1k: keep-alive over TLS 1.3 with wrk; tlsfull
#   and tlsresume: a new connection per request, full or resumed handshakes, with openssl
#   s_time). Every server gets the same ECDSA P-256 certificate and serves TLS on a second
#   port; lighttpd has no TLS module here and sits these out.
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${1:-8}
CONNS=${BENCH_CONNS:-64}
SERVERS=${BENCH_SERVERS:-"berth nginx h2o lighttpd"}
REPEAT=${BENCH_REPEAT:-2}
BERTH=${BERTH_EDGE:-build/bin/berth-edge}
[[ -x $BERTH ]] || { echo "build first: cmake --build build" >&2; exit 1; }
command -v wrk >/dev/null || { echo "wrk missing: run scripts/setup.sh" >&2; exit 1; }

WORK=$(mktemp -d /tmp/berth-bench.XXXXXX)
chmod 755 "$WORK"  # nginx and h2o workers drop privileges and must read the fixture
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# Fixture: deployments/site with a 1 KiB file, a 100 KiB file and an SPA index.
SITE=$WORK/deployments/site
mkdir -p "$SITE/assets"
head -c 1024 /dev/urandom | base64 -w 76 | head -c 1024 > "$SITE/1k.txt"
head -c 102400 /dev/urandom > "$SITE/100k.bin"
printf '<!doctype html><html><head><title>app</title></head><body><div id="root"></div><script src="/assets/app.js"></script></body></html>\n' > "$SITE/index.html"
echo 'console.log("app")' > "$SITE/assets/app.js"

# One ECDSA P-256 certificate for every server's TLS port.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
  -subj "/CN=site.bench.test" -addext "subjectAltName=DNS:site.bench.test" \
  -keyout "$WORK/tls.key" -out "$WORK/tls.crt" >/dev/null 2>&1
chmod 644 "$WORK/tls.key" # nginx and h2o workers read it after dropping privileges

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.05; done; echo "server on port $1 did not start" >&2; return 1; }

# Server pid whose CPU we count: the one worker (nginx/h2o fork one, berth and lighttpd are one process).
# start_<server> PORT TLSPORT
start_berth() {
  local port=$1 tls=$2 binary=${3:-$BERTH}
  taskset -c 0 "$binary" --listen 127.0.0.1:$port --listen-tls 127.0.0.1:$tls \
    --tls-cert "$WORK/tls.crt" --tls-key "$WORK/tls.key" --deployments "$WORK/deployments" \
    --base-domain bench.test --workers 1 ${BENCH_BERTH_ARGS:-} >"$WORK/berth-$port.log" 2>&1 &
  PIDS+=($!); SERVER_PID=$!; wait_port $port
}
start_berthb() { start_berth "$1" "$2" "${BENCH_BERTH_B:?BENCH_BERTH_B names the second binary}"; }
start_nginx() {
  local port=$1 tls=$2 dir=$WORK/nginx; mkdir -p $dir
  cat > $dir/nginx.conf <<CONF
worker_processes 1;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log crit;
events { worker_connections 4096; }
http {
  include /etc/nginx/mime.types;
  access_log off;
  sendfile on; tcp_nopush on; tcp_nodelay on;
  open_file_cache max=10000 inactive=60s; open_file_cache_valid 3600s; open_file_cache_errors on;
  keepalive_requests 100000000;
  client_body_temp_path $dir; proxy_temp_path $dir; fastcgi_temp_path $dir; uwsgi_temp_path $dir; scgi_temp_path $dir;
  ssl_certificate $WORK/tls.crt; ssl_certificate_key $WORK/tls.key;
  ssl_protocols TLSv1.2 TLSv1.3; ssl_prefer_server_ciphers on;
  ssl_conf_command Ciphersuites TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256;
  ssl_session_cache shared:SSL:10m; ssl_session_tickets on;
  server {
    listen 127.0.0.1:$port reuseport;
    listen 127.0.0.1:$tls ssl reuseport;
    root $SITE;
    location / { try_files \$uri \$uri/ /index.html; }
    location ~ \.[A-Za-z0-9]+\$ { try_files \$uri =404; }
  }
}
CONF
  taskset -c 0 nginx -c $dir/nginx.conf -p $dir >/dev/null 2>&1 &
  PIDS+=($!); wait_port $port
  SERVER_PID=$(pgrep -P "${PIDS[-1]}" | head -1)
}
start_h2o() {
  local port=$1 tls=$2 dir=$WORK/h2o; mkdir -p $dir
  cat > $dir/h2o.conf <<CONF
num-threads: 1
listen: { host: 127.0.0.1, port: $port }
listen:
  host: 127.0.0.1
  port: $tls
  ssl:
    certificate-file: $WORK/tls.crt
    key-file: $WORK/tls.key
    cipher-preference: server
error-log: $dir/error.log
pid-file: $dir/h2o.pid
file.send-compressed: OFF
http1-request-timeout: 60
hosts:
  default:
    paths:
      /:
        file.dir: $SITE
CONF
  taskset -c 0 h2o -m master -c $dir/h2o.conf >/dev/null 2>&1 &
  PIDS+=($!); wait_port $port
  SERVER_PID=$(pgrep -P "${PIDS[-1]}" | head -1)
  [[ -n $SERVER_PID ]] || SERVER_PID=${PIDS[-1]}
}
start_lighttpd() {
  local port=$1 dir=$WORK/lighttpd; mkdir -p $dir # (no TLS module installed: plain only)
  cat > $dir/lighttpd.conf <<CONF
server.document-root = "$SITE"
server.bind = "127.0.0.1"
server.port = $port
server.errorlog = "$dir/error.log"
server.max-keep-alive-requests = 100000000
server.max-worker = 0
server.network-backend = "sendfile"
server.stat-cache-engine = "simple"
server.modules = ( "mod_rewrite" )
url.rewrite-if-not-file = ( "^/[^.]*$" => "/index.html" )
include_shell "/usr/share/lighttpd/create-mime.conf.pl"
CONF
  taskset -c 0 lighttpd -D -f $dir/lighttpd.conf >/dev/null 2>&1 &
  PIDS+=($!); SERVER_PID=$!; wait_port $port
}

cpu_ticks() { awk '{print $14+$15}' /proc/$1/stat; }
# CPU 0's busy ticks (user, nice, system, irq, softirq): the server's core, including the
# network softirqs that run there while no process is charged for them (about 15% of the
# 100 KiB workload). A cross-check on the per-process figure.
core_ticks() { awk '$1=="cpu0"{print $2+$3+$4+$7+$8}' /proc/stat; }
rss_peak_kb() { awk '/VmHWM/{print $2}' /proc/$1/status; }

# workload name, path, extra wrk header args
WORKLOADS=(
  "1k|/1k.txt|"
  "100k|/100k.bin|"
  "spa|/dashboard/settings|"
  "404|/assets/app.3f9a.js|"
  "newconn|/1k.txt|Connection: close"
)
if [[ ${BENCH_TLS:-1} != 0 ]]; then
  WORKLOADS+=("tls1k|/1k.txt|" "tlsfull|/1k.txt|" "tlsresume|/1k.txt|")
fi
# A new TLS connection per request (openssl s_time: one client, blocking; it sends no Host,
# so berth answers its 404 page and the others the file: the same size class). Prints the
# connections made; the figure that decides is connections per server CPU second.
s_time_run() {
  local port=$1 mode=$2 secs=$3
  taskset -c 1 openssl s_time -connect 127.0.0.1:$port $mode -time $secs -www /1k.txt 2>/dev/null |
    awk '/connections in/ && /real seconds/ {print $1; exit}'
}

RESULTS=$WORK/results.tsv
: > $RESULTS
HZ=$(getconf CLK_TCK)
# All servers run side by side (an idle one costs nothing); each workload is measured on every
# server back to back, so the machine's drift (it is shared) touches them alike, and the
# order of the servers rotates from round to round.
declare -A PORT TLSPORT PID
for server in $SERVERS; do
  port=$(free_port); tls=$(free_port)
  start_$server $port $tls
  PORT[$server]=$port; TLSPORT[$server]=$tls; PID[$server]=$SERVER_PID
done
read -ra ORDER <<<"$SERVERS"
for round in $(seq 1 "$REPEAT"); do
  for w in "${WORKLOADS[@]}"; do
    IFS='|' read -r name path extra <<<"$w"
    [[ -n ${BENCH_ONLY:-} && " $BENCH_ONLY " != *" $name "* ]] && continue
    for server in "${ORDER[@]}"; do
      port=${PORT[$server]}; pid=${PID[$server]}
      if [[ $server == h2o && $name == spa ]] || [[ $server == lighttpd && $name == tls* ]]; then
        echo -e "$server\t$name\tn/a\t\t\t\t\t\t\t$round\t" >> $RESULTS; continue
      fi
      hdr=(-H "Host: site.bench.test")
      [[ -n $extra ]] && hdr+=(-H "$extra")
      url=http://127.0.0.1:$port$path
      [[ $name == tls* ]] && url=https://127.0.0.1:${TLSPORT[$server]}$path
      if [[ $name == tlsfull || $name == tlsresume ]]; then
        mode=-new; [[ $name == tlsresume ]] && mode=-reuse
        s_time_run ${TLSPORT[$server]} $mode 1 >/dev/null || true # warm-up
        t0=$(cpu_ticks $pid); k0=$(core_ticks)
        reqs=$(s_time_run ${TLSPORT[$server]} $mode $DUR)
        t1=$(cpu_ticks $pid); k1=$(core_ticks)
        rps=$(awk -v r=${reqs:-0} -v d=$DUR 'BEGIN{printf "%.2f", r/d}')
        p50=""; p99=""; non2xx=0
      else
      # warm-up (fills caches), then the measured run
      taskset -c 1 wrk -t1 -c$CONNS -d1s "${hdr[@]}" $url >/dev/null 2>&1 || true
      t0=$(cpu_ticks $pid); k0=$(core_ticks)
      out=$(taskset -c 1 wrk -t1 -c$CONNS -d${DUR}s --latency "${hdr[@]}" $url 2>&1)
      t1=$(cpu_ticks $pid); k1=$(core_ticks)
      reqs=$(awk '/requests in/{print $1}' <<<"$out")
      rps=$(awk '/Requests\/sec/{print $2}' <<<"$out")
      p50=$(awk '$1=="50%"{print $2}' <<<"$out")
      p99=$(awk '$1=="99%"{print $2}' <<<"$out")
      non2xx=$(awk '/Non-2xx/{print $NF}' <<<"$out")
      fi
      cpu=$(awk -v a=$t0 -v b=$t1 -v hz=$HZ 'BEGIN{printf "%.2f", (b-a)/hz}')
      per_cpu=$(awk -v r=$reqs -v c=$cpu 'BEGIN{ if (c>0) printf "%.0f", r/c; else print "inf"}')
      per_core=$(awk -v r=$reqs -v a=$k0 -v b=$k1 -v hz=$HZ 'BEGIN{ if (b>a) printf "%.0f", r/((b-a)/hz); else print "inf"}')
      rss=$(rss_peak_kb $pid)
      echo -e "$server\t$name\t$rps\t$per_cpu\t$cpu\t$p50\t$p99\t$rss\t${non2xx:-0}\t$round\t$per_core" >> $RESULTS
    done
  done
  ORDER=("${ORDER[@]:1}" "${ORDER[0]}")
done

python3 - "$RESULTS" <<'PY'
import sys, collections, statistics
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
def score(r):
    return float(r[3]) if r[3] not in ("inf", "", "n/a") and r[2] != "n/a" else -1
def core(r):
    return float(r[10]) if len(r) > 10 and r[10] not in ("inf", "") else -1
data = collections.defaultdict(dict)          # workload -> server -> best round
rounds = collections.defaultdict(dict)        # (workload, round) -> server -> req/CPU-s
core_rounds = collections.defaultdict(dict)   # (workload, round) -> server -> req/core-s
for r in rows:
    best = data[r[1]].get(r[0])
    if best is None or score(r) > score(best):
        data[r[1]][r[0]] = r
    rounds[(r[1], r[9])][r[0]] = score(r)
    core_rounds[(r[1], r[9])][r[0]] = core(r)
def median_ratio(table, wl, s):
    per = [v[s] / v["nginx"] for (w, _), v in table.items()
           if w == wl and v.get(s, -1) > 0 and v.get("nginx", -1) > 0]
    return per
# "vs nginx": best round against nginx's best round. "round ratios": the same ratio within
# each round (runs back to back), median and range, which the machine's drift touches least.
# "core": requests per busy second of CPU 0 (softirqs included), median round ratio to nginx.
print(f"{'workload':9} {'server':9} {'req/s':>10} {'req/CPU-s':>10} {'CPU us/req':>10} {'vs nginx':>8} {'round ratios (median, min-max)':>31} {'p50':>9} {'p99':>9} {'peakRSS':>9} {'non2xx':>7} {'req/core-s':>10} {'core ratio':>10}")
for wl, servers in data.items():
    base = servers.get("nginx")
    for s, r in servers.items():
        if score(r) < 0:
            print(f"{wl:9} {s:9} {'n/a':>10}"); continue
        ratio, spread = "", ""
        if base and score(base) > 0:
            ratio = f"{score(r) / score(base):.2f}x"
            per = median_ratio(rounds, wl, s)
            if per:
                spread = f"{statistics.median(per):.2f}x ({min(per):.2f}-{max(per):.2f})"
        per_core = median_ratio(core_rounds, wl, s)
        core_ratio = f"{statistics.median(per_core):.2f}x" if per_core else ""
        best_core = max((v[s] for (w, _), v in core_rounds.items() if w == wl and v.get(s, -1) > 0), default=-1)
        print(f"{wl:9} {s:9} {r[2]:>10} {r[3]:>10} {1e6 / score(r):>10.2f} {ratio:>8} {spread:>31} {r[5]:>9} {r[6]:>9} {r[7]+'k':>9} {r[8]:>7} {best_core:>10.0f} {core_ratio:>10}")
PY

# Idle keep-alive connections (#12): RSS growth per connection, each connection answered once
# and then left open, on fresh berth-edge and nginx instances (one worker each; nginx with
# room for the connections). A platform holds many idle browsers and slow clients.
IDLE=${BENCH_IDLE:-9000}
if [[ $IDLE != 0 ]]; then
  echo
  echo "idle keep-alive connections ($IDLE, one GET each, then idle):"
  port=$(free_port); tls=$(free_port)
  taskset -c 0 "$BERTH" --listen 127.0.0.1:$port --listen-tls 127.0.0.1:$tls \
    --tls-cert "$WORK/tls.crt" --tls-key "$WORK/tls.key" --deployments "$WORK/deployments" \
    --base-domain bench.test --workers 1 >"$WORK/berth-idle.log" 2>&1 &
  PIDS+=($!); idle_pid=$!; wait_port $port
  printf '  %-8s ' berth; python3 scripts/idle_rss.py $port site.bench.test /1k.txt "$IDLE" $idle_pid
  if [[ ${BENCH_TLS:-1} != 0 ]]; then
    printf '  %-8s ' berth; python3 scripts/idle_rss.py $tls site.bench.test /1k.txt "$IDLE" $idle_pid tls
  fi
  kill $idle_pid
  if [[ " $SERVERS " == *" nginx "* ]]; then
    port=$(free_port); tls=$(free_port); dir=$WORK/nginx-idle; mkdir -p $dir
    sed -e "s/worker_connections 4096;/worker_connections $((IDLE + 1024));/" \
        -e "s/^worker_processes 1;/worker_processes 1;\nworker_rlimit_nofile $((IDLE + 2048));/" \
        -e "s#$WORK/nginx/#$dir/#g" -e "s#$WORK/nginx;#$dir;#g" -e "s#$WORK/nginx\$#$dir#g" \
        -e "s/listen 127.0.0.1:${PORT[nginx]} reuseport/listen 127.0.0.1:$port reuseport/" \
        -e "s/listen 127.0.0.1:${TLSPORT[nginx]} ssl reuseport/listen 127.0.0.1:$tls ssl reuseport/" \
        $WORK/nginx/nginx.conf > $dir/nginx.conf
    taskset -c 0 nginx -c $dir/nginx.conf -p $dir >/dev/null 2>&1 &
    PIDS+=($!); wait_port $port
    worker=$(pgrep -P "${PIDS[-1]}" | head -1)
    printf '  %-8s ' nginx; python3 scripts/idle_rss.py $port site.bench.test /1k.txt "$IDLE" "$worker"
    if [[ ${BENCH_TLS:-1} != 0 ]]; then
      printf '  %-8s ' nginx; python3 scripts/idle_rss.py $tls site.bench.test /1k.txt "$IDLE" "$worker" tls
    fi
  fi
fi

# The control-plane API workload (issue #3): GET deployment and trigger+cancel round trips
# per second with p99, against private PostgreSQL and Redis. BENCH_API=0 skips it.
if [[ ${BENCH_API:-1} != 0 && -x build/bin/berth-control ]]; then
  echo
  echo "control-plane API (scripts/bench_api.sh):"
  scripts/bench_api.sh build
fi

# The proxy workload (#14): scripts/bench_proxy.sh (1 KiB keep-alive, berth vs nginx vs
# HAProxy, upstream nginx on the load generator's core). BENCH_PROXY=0 skips it.
if [[ ${BENCH_PROXY:-1} != 0 ]] && command -v haproxy >/dev/null; then
  echo
  echo "proxy, 1 KiB keep-alive (scripts/bench_proxy.sh):"
  scripts/bench_proxy.sh "$DUR"
fi

# Fleet propagation: publish in Redis -> every berth-edge following it has installed and
# acknowledged the table (scripts/bench_fleet.sh, 3 edges). BENCH_FLEET=0 skips it.
if [[ ${BENCH_FLEET:-1} != 0 ]]; then
  echo
  echo "fleet propagation through Redis (scripts/bench_fleet.sh):"
  scripts/bench_fleet.sh build
fi
