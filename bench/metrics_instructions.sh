#!/usr/bin/env bash
# Instructions per request with observability off, metrics on, and metrics + trace context
# on (the defaults), counted by callgrind on the real gatehouse binary. The wall-clock bench
# (bench/metrics.sh) varies by ±2 µs per request between identical runs on a shared VM, ten
# times the 0.2 µs target; instruction counts are repeatable, so this is where the added
# cost is read. For each configuration: warm up, zero the counters (callgrind_control -z),
# send REQUESTS keep-alive requests from one client, dump (callgrind_control -d), and divide
# the gateway's instructions (all threads) by REQUESTS.
#
# Usage: bench/metrics_instructions.sh
# Env:   REQUESTS (5000)  GATEHOUSE_BIN (build-bench/gatehouse, built if missing)  KEEP_TMP=1
#        BENCH_SKIP_DEPS=1
set -euo pipefail

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

REQUESTS=${REQUESTS:-5000}
bench_require_uint REQUESTS "$REQUESTS" 1
bench_knobs
bench_init
bench_ensure_deps
command -v valgrind >/dev/null || bench_die "valgrind is needed (apt-get install valgrind)"
bench_resolve_gatehouse
bench_start_upstream

cat >"$BENCH_TMP/config.json" <<JSON
{"upstreams":[{"name":"bench-upstream","targets":[{"address":"127.0.0.1:$UPSTREAM_PORT"}]}],
 "routes":[{"name":"all","match":{"paths":["/"]},"upstream":"bench-upstream"}]}
JSON

# `gatehouse run` under callgrind; everything else (config import) runs natively.
REAL_BIN=$GATEHOUSE_BIN
wrapper="$BENCH_TMP/gatehouse-callgrind"
cat >"$wrapper" <<WRAPPER
#!/bin/sh
if [ "\$1" = run ]; then
  exec valgrind --tool=callgrind --callgrind-out-file="\$CALLGRIND_OUT" "$REAL_BIN" "\$@"
fi
exec "$REAL_BIN" "\$@"
WRAPPER
chmod +x "$wrapper"
GATEHOUSE_BIN=$wrapper

client() {  # client PORT N: N sequential keep-alive GETs, each must answer 200
  python3 - "$1" "$2" <<'PY'
import http.client, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
for _ in range(n):
    c.request("GET", "/bench")
    r = c.getresponse()
    r.read()
    if r.status != 200:
        sys.exit("status %d" % r.status)
PY
}

declare -A PER_REQ
measure() {  # measure NAME EXTRA_INI
  local name=$1 out="$BENCH_TMP/callgrind.$1"
  CALLGRIND_OUT="$out.%p" GH_EXTRA_INI=$2 bench_start_gatehouse "$name" "$BENCH_TMP/config.json"
  client "$GH_PORT" 500 || bench_die "$name: warm-up failed"
  callgrind_control -z "$GH_PID" >/dev/null
  client "$GH_PORT" "$REQUESTS" || bench_die "$name: requests failed"
  callgrind_control -d "$GH_PID" >/dev/null
  local dump total
  dump=$(ls -t "$out".*.* 2>/dev/null | head -n1)
  [[ -n "$dump" ]] || bench_die "$name: no callgrind dump"
  total=$(sed -n 's/^summary: *\([0-9]*\).*/\1/p' "$dump" | head -n1)
  [[ -n "$total" ]] || bench_die "$name: no summary in $dump"
  PER_REQ[$name]=$((total / REQUESTS))
  bench_log "$name: $total instructions for $REQUESTS requests = ${PER_REQ[$name]} per request"
  bench_stop "$GH_PID"
}
measure obs-off '[metrics]\nenabled = false\n[tracing]\npropagate = false'
measure metrics '[tracing]\npropagate = false'
measure defaults ''

{
  echo
  bench_environment
  printf 'callgrind, %s keep-alive requests, 1 worker, instructions per request (all threads)\n' "$REQUESTS"
  for n in obs-off metrics defaults; do printf '  %-9s %8d\n' "$n" "${PER_REQ[$n]}"; done
  printf 'added by metrics: %d instructions; by trace context: %d instructions\n' \
    $((PER_REQ[metrics] - PER_REQ[obs-off])) $((PER_REQ[defaults] - PER_REQ[metrics]))
} | tee "$BENCH_REPO/bench/results/metrics-instructions-$(date +%Y%m%d-%H%M%S).txt"
