#!/usr/bin/env bash
# One command from a fresh Debian 12 machine to a running gatehouse: installs the build
# dependencies, builds, seeds an embedded SQLite store with a demo upstream and route, starts
# a demo upstream and gatehouse in the foreground. Ctrl-C stops both.
#   PORT=8000 scripts/quickstart.sh
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j 2 --target gatehouse gatehouse-test-upstream plugin-key-auth plugin-jwt-auth \
  plugin-basic-auth plugin-acl plugin-rate-limiting plugin-circuit-breaker plugin-cors \
  plugin-request-transformer plugin-response-transformer plugin-access-log

port=${PORT:-8000}
demo_port=${DEMO_UPSTREAM_PORT:-9080}
state=${STATE_DIR:-$PWD/.quickstart}
mkdir -p "$state"
db="$state/gatehouse.db"

cat > "$state/demo.json" <<JSON
{
  "upstreams": [
    {"name": "demo", "targets": [{"address": "127.0.0.1:$demo_port", "weight": 100}]}
  ],
  "routes": [
    {"name": "demo", "match": {"paths": ["/demo"]}, "upstream": "demo", "strip_prefix": true}
  ]
}
JSON
build/gatehouse config import "$state/demo.json" --db "$db" >/dev/null

build/gatehouse-test-upstream --port "$demo_port" --id demo >/dev/null &
upstream_pid=$!
gatehouse_pid=""
stop() {
  # SIGTERM makes gatehouse drain in-flight requests and exit.
  kill $gatehouse_pid $upstream_pid 2>/dev/null || true
  wait 2>/dev/null || true
}
trap stop EXIT INT TERM

cat <<MSG

  gatehouse is starting on http://127.0.0.1:$port (store: $db)
  try:   curl -i http://127.0.0.1:$port/demo/hello
  plugins: build/plugins (auth, acl, rate-limiting, circuit-breaker, cors, transformers,
           access-log; see plugins/README.md)
  admin: http://127.0.0.1:8001 (the token is printed below at the first start;
         \`build/gatehouse admin-token --db $db\` makes a new one)
  stop:  Ctrl-C

MSG
build/gatehouse run --db "$db" --listen "0.0.0.0:$port" --plugin-dir build/plugins &
gatehouse_pid=$!
wait $gatehouse_pid
