#!/usr/bin/env bash
# berth-control API benchmark (issue #3): GET deployment and trigger+cancel round trips per
# second with p99 latency, against private PostgreSQL and Redis in a temp dir, using wrk.
# Usage: scripts/bench_api.sh [BUILD_DIR]   (env: DURATION=10s CONNS=4)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
BIN=$BUILD/bin/berth-control
DURATION=${DURATION:-10s}
CONNS=${CONNS:-4}
[[ -x $BIN ]] || { echo "bench_api: $BIN not built" >&2; exit 1; }

json_id() { python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])'; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
TMP=$(mktemp -d /tmp/berth-bench-api-XXXXXX)
[[ $(id -u) -eq 0 ]] && chmod 755 "$TMP"
export BERTH_STATE_DIR=$TMP BERTH_PG_PORT=$(free_port) BERTH_REDIS_PORT=$(free_port)
SERVE_PID=
cleanup() {
  [[ -n $SERVE_PID ]] && kill "$SERVE_PID" 2>/dev/null && wait "$SERVE_PID" 2>/dev/null
  scripts/services.sh stop >/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT
scripts/services.sh start >/dev/null

cat >"$TMP/control.toml" <<TOML
[api]
listen = "127.0.0.1:0"
threads = 8
trigger_per_minute = 1000000
trigger_per_hour = 1000000
[database]
url = "postgresql://berth@127.0.0.1:$BERTH_PG_PORT/berth?passfile=$TMP/pgpass"
pool = 16
[redis]
url = "redis://127.0.0.1:$BERTH_REDIS_PORT"
password_file = "$TMP/redis.password"
[deploy]
workers = 0
deployments_root = "$TMP/deployments"
builds_dir = "$TMP/builds"
[security]
encryption_key_file = "$TMP/encryption.key"
TOML
$BIN --config "$TMP/control.toml" migrate >/dev/null
TOKEN=$($BIN --config "$TMP/control.toml" token create --user bench | tail -n1)
$BIN --config "$TMP/control.toml" serve >"$TMP/serve.out" 2>"$TMP/serve.err" &
SERVE_PID=$!
for _ in $(seq 200); do grep -q "listening on" "$TMP/serve.out" && break; sleep 0.05; done
PORT=$(sed -n 's/.*listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$TMP/serve.out")
API=http://127.0.0.1:$PORT/api/v1
H=(-H "Authorization: Token $TOKEN" -H "Content-Type: application/json")

PROJECT=$(curl -sf "${H[@]}" -d '{"name":"bench"}' "$API/projects/" | json_id)
SERVICES=()
for i in $(seq "$CONNS"); do
  SERVICES+=("$(curl -sf "${H[@]}" -d "{\"project_id\":\"$PROJECT\",\"name\":\"bench$i\",\"buildpack\":\"STATIC\",\"repo_url\":\"https://git.example.test/b.git\"}" \
    "$API/services/" | json_id)")
done
DEP=$(curl -sf "${H[@]}" -d "{\"service_id\":\"${SERVICES[0]}\"}" "$API/deployments/trigger/" | json_id)
curl -sf "${H[@]}" -X POST "$API/deployments/$DEP/cancel/" >/dev/null

cat >"$TMP/get.lua" <<'LUA'
wrk.headers["Authorization"] = "Token " .. os.getenv("BENCH_TOKEN")
LUA
cat >"$TMP/trigger_cancel.lua" <<'LUA'
-- One connection per thread; each thread alternates trigger and cancel on its own service.
local ids = {}
for id in string.gmatch(os.getenv("BENCH_SERVICES"), "[^,]+") do ids[#ids + 1] = id end
local n = 0
function setup(thread) n = n + 1; thread:set("sid", ids[n]) end
local dep = nil
local pending_cancel = false
local hdrs = { ["Authorization"] = "Token " .. os.getenv("BENCH_TOKEN"), ["Content-Type"] = "application/json" }
errors = 0
function request()
  if dep then
    pending_cancel = true
    return wrk.format("POST", "/api/v1/deployments/" .. dep .. "/cancel/", hdrs, "")
  end
  pending_cancel = false
  return wrk.format("POST", "/api/v1/deployments/trigger/", hdrs, '{"service_id":"' .. sid .. '"}')
end
function response(status, headers, body)
  if pending_cancel then
    if status ~= 200 then errors = errors + 1 end
    dep = nil
  elseif status == 201 then
    dep = string.match(body, '"id":"([^"]+)"')
  else
    errors = errors + 1
  end
end
LUA
export BENCH_TOKEN=$TOKEN BENCH_SERVICES=$(IFS=,; echo "${SERVICES[*]}")

report() { # name, wrk output, divisor (requests per round trip)
  local rps p99
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$2")
  p99=$(awk '/ 99%/ {print $2}' <<<"$2")
  awk -v n="$1" -v r="$rps" -v d="$3" -v p="$p99" 'BEGIN { printf "%-28s %10.0f per second   p99 per request %s\n", n, r / d, p }'
  if grep -q "Non-2xx" <<<"$2"; then grep "Non-2xx" <<<"$2"; fi
}
OUT=$(wrk -t "$CONNS" -c "$CONNS" -d "$DURATION" --latency -s "$TMP/get.lua" "$API/deployments/$DEP/")
report "api GET deployment" "$OUT" 1
OUT=$(wrk -t "$CONNS" -c "$CONNS" -d "$DURATION" --latency -s "$TMP/trigger_cancel.lua" "$API/")
report "api trigger+cancel (trips)" "$OUT" 2
