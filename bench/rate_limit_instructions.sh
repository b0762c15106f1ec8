#!/usr/bin/env bash
# Instructions per request added by rate-limiting with many distinct keys (issue #6), counted
# by callgrind on the real gatehouse binary (user space, all threads): the wall-clock bench
# (bench/rate_limit.sh) varies by ±2 µs per request between identical rounds on a shared VM,
# twice the 1 µs target; instruction counts are repeatable. Three gateways (1 worker): no
# plugin, rate-limiting keyed by the X-Client header with a sliding window, and with a token
# bucket. Each gets KEYS distinct X-Client values as warm-up (so the host tracks them all),
# then REQUESTS keep-alive requests cycling through those keys are counted.
#
# Usage: bench/rate_limit_instructions.sh
# Env:   REQUESTS (5000)  KEYS (100000)  GATEHOUSE_BIN (build-bench/gatehouse)  KEEP_TMP=1
#        BENCH_SKIP_DEPS=1
set -euo pipefail

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

REQUESTS=${REQUESTS:-5000}
KEYS=${KEYS:-100000}
bench_require_uint REQUESTS "$REQUESTS" 1
bench_require_uint KEYS "$KEYS" 1
bench_knobs
bench_init
bench_ensure_deps
command -v valgrind >/dev/null || bench_die "valgrind is needed (apt-get install valgrind)"
bench_resolve_gatehouse
make -C "$(dirname "$GATEHOUSE_BIN")" -j2 plugin-rate-limiting >/dev/null ||
  bench_die "building the plugin failed"
GH_PLUGIN_DIR="$(dirname "$GATEHOUSE_BIN")/plugins"
bench_start_upstream

python3 - "$BENCH_TMP" "$UPSTREAM_PORT" <<'PY'
import json, sys
tmp, port = sys.argv[1], sys.argv[2]
def doc(plugins):
    return {"upstreams": [{"name": "bench-upstream", "targets": [{"address": "127.0.0.1:" + port}]}],
            "routes": [{"name": "all", "match": {"paths": ["/"]}, "upstream": "bench-upstream"}],
            "plugins": plugins}
def limiter(algorithm):
    return [{"name": "rate-limiting",
             "config": {"key": "header", "header_name": "X-Client", "algorithm": algorithm,
                        "limits": [{"limit": 1000000000, "window": 60}]}}]
for name, d in {"bare": doc([]), "rl-sliding": doc(limiter("sliding-window")),
                "rl-bucket": doc(limiter("token-bucket"))}.items():
    json.dump(d, open(f"{tmp}/{name}.json", "w"))
PY

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

client() {  # client PORT N: N sequential keep-alive GETs over KEYS X-Client values, all 200
  python3 - "$1" "$2" "$KEYS" <<'PY'
import http.client, sys
port, n, keys = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
for i in range(n):
    c.request("GET", "/bench", headers={"X-Client": "client-%d" % (i * 7919 % keys)})
    r = c.getresponse()
    r.read()
    if r.status != 200:
        sys.exit("status %d" % r.status)
PY
}

declare -A PER_REQ
measure() {  # measure NAME
  local name=$1 out="$BENCH_TMP/callgrind.$1"
  CALLGRIND_OUT="$out.%p" bench_start_gatehouse "$name" "$BENCH_TMP/$name.json"
  client "$GH_PORT" "$KEYS" || bench_die "$name: warm-up failed"
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
for n in bare rl-sliding rl-bucket; do measure "$n"; done

{
  echo
  bench_environment
  printf 'callgrind, %s keep-alive requests over %s keys, 1 worker, instructions per request\n' \
    "$REQUESTS" "$KEYS"
  for n in bare rl-sliding rl-bucket; do printf '  %-10s %8d\n' "$n" "${PER_REQ[$n]}"; done
  printf 'added by rate-limiting: sliding window %d, token bucket %d instructions\n' \
    $((PER_REQ[rl-sliding] - PER_REQ[bare])) $((PER_REQ[rl-bucket] - PER_REQ[bare]))
} | tee "$BENCH_REPO/bench/results/rate-limit-instructions-$(date +%Y%m%d-%H%M%S).txt"
