#!/usr/bin/env bash
# Deployment pipeline benchmark (issue #16): trigger → ACTIVE for the plain static fixture and
# for the node-build fixture (tests/control/fixtures/node-build: npm ci of a vendored package,
# then `node build.js`), split by phase, with the first build (cold dependency cache) and later
# builds (warm cache) reported apart. Control's overhead is everything except the clone and the
# install/build commands themselves (queue pickup, Analyze, sandbox setup, cache copy, scan,
# publish, route push and health check through a real berth-edge); the issue's target is under
# 300 ms. Private PostgreSQL, Redis and berth-edge in a temp dir; no network.
# Usage: scripts/bench_pipeline.sh [BUILD_DIR]   (env: ROUNDS=4, deploys per fixture)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
ROUNDS=${ROUNDS:-4}
for b in berth-control berth-edge; do
  [[ -x $BUILD/bin/$b ]] || { echo "bench_pipeline: $BUILD/bin/$b not built" >&2; exit 1; }
done
command -v npm >/dev/null || { echo "bench_pipeline: npm is missing (scripts/setup.sh)" >&2; exit 1; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
TMP=$(mktemp -d /tmp/berth-bench-pipeline-XXXXXX)
chmod 755 "$TMP" # builds run as nobody when this runs as root
export BERTH_STATE_DIR=$TMP BERTH_PG_PORT=$(free_port) BERTH_REDIS_PORT=$(free_port)
EDGE_PORT=$(free_port)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  scripts/services.sh stop >/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT
scripts/services.sh start >/dev/null

# Two repositories: a plain static site and the node-build fixture.
git_commit() { git -C "$1" add -A && git -C "$1" -c user.name=bench -c user.email=bench@localhost commit -qm "$2"; }
mkdir -p "$TMP/repos/static" "$TMP/repos/node"
git -C "$TMP/repos/static" init -q -b main
for i in $(seq 20); do echo "<h1>page $i</h1>" > "$TMP/repos/static/page$i.html"; done
echo '<h1>static</h1>' > "$TMP/repos/static/index.html"
git_commit "$TMP/repos/static" first
git -C "$TMP/repos/node" init -q -b main
cp -r tests/control/fixtures/node-build/. "$TMP/repos/node/"
git_commit "$TMP/repos/node" first

mkdir -p "$TMP/deployments" "$TMP/builds" "$TMP/cache" "$TMP/edge-state"
"$BUILD/bin/berth-edge" --listen "127.0.0.1:$EDGE_PORT" --deployments "$TMP/deployments" \
  --admin-socket "$TMP/edge.sock" --state-dir "$TMP/edge-state" --base-domain localhost \
  >"$TMP/edge.log" 2>&1 &
pids+=($!)
cat >"$TMP/control.toml" <<TOML
[api]
listen = "127.0.0.1:0"
trigger_per_minute = 1000
trigger_per_hour = 100000
[database]
url = "postgresql://berth@127.0.0.1:$BERTH_PG_PORT/berth?passfile=$TMP/pgpass"
[redis]
url = "redis://127.0.0.1:$BERTH_REDIS_PORT"
password_file = "$TMP/redis.password"
[deploy]
workers = 1
deployments_root = "$TMP/deployments"
builds_dir = "$TMP/builds"
base_domain = "localhost"
[builds]
cache_dir = "$TMP/cache"
[edges]
admin_sockets = ["$TMP/edge.sock"]
http_addresses = ["127.0.0.1:$EDGE_PORT"]
[security]
encryption_key_file = "$TMP/encryption.key"
allow_file_urls = true
TOML
CONTROL=("$BUILD/bin/berth-control" --config "$TMP/control.toml")
"${CONTROL[@]}" migrate >/dev/null
TOKEN=$("${CONTROL[@]}" token create --user bench | tail -n1)
"${CONTROL[@]}" serve >"$TMP/serve.out" 2>"$TMP/serve.err" &
pids+=($!)
for _ in $(seq 200); do grep -q "listening on" "$TMP/serve.out" && break; sleep 0.05; done
PORT=$(sed -n 's/.*listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$TMP/serve.out")
[[ -n $PORT ]] || { cat "$TMP/serve.err" >&2; exit 1; }

API=http://127.0.0.1:$PORT/api/v1 TOKEN=$TOKEN REPOS=$TMP/repos ROUNDS=$ROUNDS python3 - <<'PY'
import json, os, statistics, subprocess, time, urllib.request
from datetime import datetime

API, TOKEN, REPOS, ROUNDS = os.environ["API"], os.environ["TOKEN"], os.environ["REPOS"], int(os.environ["ROUNDS"])

def call(method, path, body=None):
    req = urllib.request.Request(API + path, method=method,
                                 data=None if body is None else json.dumps(body).encode(),
                                 headers={"Authorization": "Token " + TOKEN,
                                          "Content-Type": "application/json"})
    with urllib.request.urlopen(req) as r:
        return json.load(r)

def ts(s):
    return datetime.fromisoformat(s.replace(" ", "T")).timestamp()

def deploy(service):
    dep = call("POST", "/deployments/trigger/", {"service_id": service})
    # follow=1 returns when the deployment is terminal: no polling.
    req = urllib.request.Request(f"{API}/deployments/{dep['id']}/build-logs/?follow=1",
                                 headers={"Authorization": "Token " + TOKEN})
    lines = []
    with urllib.request.urlopen(req) as r:
        for raw in r:
            j = json.loads(raw)
            if "end" in j:
                break
            lines.append(j)
    d = call("GET", f"/deployments/{dep['id']}/")
    if d["status"] != "ACTIVE":
        raise SystemExit(f"deployment {d['id']} ended {d['status']}: {d.get('error_message')}")
    at = {h["status"]: ts(h["at"]) for h in d["status_history"]}
    total = at["ACTIVE"] - at["QUEUED"]
    stages = {s["name"]: ts(s["ended_at"]) - ts(s["started_at"]) for s in d["pipeline_stages"]}
    commands, start = 0.0, None
    for l in lines:  # "$ cmd" ... "<phase> done in": the command's own time
        if l["stream"] == "build" and l["line"].startswith("$ "):
            start = ts(l["at"])
        elif l["stream"] == "build" and " done in " in l["line"] and start is not None:
            commands += ts(l["at"]) - start
            start = None
    clone = stages.get("clone", 0.0)
    return {"total": total, "queue": at.get("CLONING", at["QUEUED"]) - at["QUEUED"],
            "clone": clone, "commands": commands, "overhead": total - clone - commands,
            **{k: v for k, v in stages.items() if k != "clone"},
            "detail": next(s["detail"] for s in d["pipeline_stages"] if s["name"] == "build")}

project = call("POST", "/projects/", {"name": "bench"})["id"]
cols = ["total", "queue", "clone", "analyze", "build", "commands", "deploy", "health_check", "overhead"]
print(f"{'deploy':<22}" + "".join(f"{c:>13}" for c in cols) + "   (ms; build detail)")
summary = {}
for name, buildpack in (("static", "STATIC"), ("node", None)):
    body = {"project_id": project, "name": f"bench-{name}", "repo_url": f"file://{REPOS}/{name}"}
    if buildpack:
        body["buildpack"] = buildpack
    service = call("POST", "/services/", body)["id"]
    for i in range(ROUNDS):
        if i:
            with open(f"{REPOS}/{name}/round.txt", "w") as f:
                f.write(str(i))
            subprocess.run(["git", "-C", f"{REPOS}/{name}", "add", "-A"], check=True)
            subprocess.run(["git", "-C", f"{REPOS}/{name}", "-c", "user.name=b", "-c",
                            "user.email=b@localhost", "commit", "-qm", f"round {i}"], check=True)
        r = deploy(service)
        label = f"{name} #{i + 1}" + (" (cold cache)" if name == "node" and i == 0 else "")
        print(f"{label:<22}" + "".join(f"{r.get(c, 0) * 1000:>13.0f}" for c in cols) + "   " + r["detail"])
        summary.setdefault((name, i == 0), []).append(r)

print()
for (name, first), rs in summary.items():
    o = [r["overhead"] * 1000 for r in rs]
    t = [r["total"] * 1000 for r in rs]
    which = "first deploy" if first else f"later deploys (n={len(rs)})"
    print(f"{name:<7} {which:<24} trigger→ACTIVE median {statistics.median(t):6.0f} ms, "
          f"control overhead median {statistics.median(o):5.0f} ms (max {max(o):.0f}; target < 300)")
PY
