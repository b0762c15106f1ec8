#!/usr/bin/env bash
# Cost of the traffic plugins together (issue #6): the same route on two gatehouse instances
# (1 worker each, same nginx upstream), measured in alternating rounds:
#   bare    no plugin
#   stack   cors + rate-limiting (by client ip, limit far above what wrk reaches) +
#           circuit-breaker + request-transformer (one header added, one removed) +
#           access-log (json, to a file in the temporary directory)
# Every request carries an Origin header, so cors does its work on both. Prints the table
# and the added CPU per request of the stack.
#
# Usage: bench/traffic_plugins.sh
# Env:   CONNECTIONS (50)  DURATION seconds (10)  ROUNDS (3)  WARMUP seconds (2)
#        GATEHOUSE_BIN (build-bench/gatehouse, built if missing)  KEEP_TMP=1  BENCH_SKIP_DEPS=1
set -euo pipefail

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

bench_knobs
bench_init
bench_ensure_deps
bench_resolve_gatehouse
make -C "$(dirname "$GATEHOUSE_BIN")" -j2 plugin-cors plugin-rate-limiting plugin-circuit-breaker \
  plugin-request-transformer plugin-access-log >/dev/null || bench_die "building the plugins failed"
bench_start_upstream

python3 - "$BENCH_TMP" "$UPSTREAM_PORT" <<'PY'
import json, sys
tmp, port = sys.argv[1], sys.argv[2]
def doc(plugins):
    return {"upstreams": [{"name": "bench-upstream", "targets": [{"address": "127.0.0.1:" + port}]}],
            "routes": [{"name": "all", "match": {"paths": ["/"]}, "upstream": "bench-upstream"}],
            "plugins": plugins}
stack = [
    {"name": "cors", "config": {"origins": ["https://app.example.com"], "credentials": True,
                                "exposed_headers": ["X-Request-Id"]}},
    {"name": "rate-limiting", "config": {"key": "ip", "limits": [{"limit": 1000000000, "window": 60}]}},
    {"name": "circuit-breaker", "config": {"consecutive_failures": 5}},
    {"name": "request-transformer", "config": {"add": {"headers": {"X-Team": "bench"}},
                                               "remove": {"headers": ["X-Debug"]}}},
    {"name": "access-log", "config": {"format": "json", "path": tmp + "/access.log"}},
]
for name, d in {"bare": doc([]), "stack": doc(stack)}.items():
    json.dump(d, open(f"{tmp}/{name}.json", "w"))
PY

GH_PLUGIN_DIR="$(dirname "$GATEHOUSE_BIN")/plugins"
names=(bare stack)
for name in "${names[@]}"; do
  bench_start_gatehouse "$name" "$BENCH_TMP/$name.json"
  BENCH_PID_OF[$name]=$GH_PID
  BENCH_URL_OF[$name]="http://127.0.0.1:$GH_PORT/"
  BENCH_HEADER_OF[$name]="Origin: https://app.example.com"
  bench_check_body "$name" "${BENCH_URL_OF[$name]}"
done
# The stack must really be running: CORS and RateLimit headers, and access log lines.
headers=$(curl -s -D - -o /dev/null -H 'Origin: https://app.example.com' "${BENCH_URL_OF[stack]}")
grep -qi '^access-control-allow-origin: https://app.example.com' <<<"$headers" ||
  bench_die "stack: no CORS header (plugins not running?)"
grep -qi '^ratelimit:' <<<"$headers" || bench_die "stack: no RateLimit header"

bench_rounds "${names[@]}"
{
  echo
  bench_environment
  bench_table traffic-plugins "${names[@]}"
  # shellcheck disable=SC2086  # the RES_* values are space-separated lists
  awk -v a="$(bench_median ${RES_CPU[bare]})" -v b="$(bench_median ${RES_CPU[stack]})" \
    'BEGIN { printf "added CPU per request by the stack: %.2f us\n", b - a }'
  echo "access log lines written: $(wc -l <"$BENCH_TMP/access.log")"
  bench_per_round "${names[@]}"
  for w in "${BENCH_WARNINGS[@]}"; do printf 'WARNING: %s\n' "$w"; done
} | tee "$BENCH_REPO/bench/results/traffic-plugins-$(date +%Y%m%d-%H%M%S).txt"
