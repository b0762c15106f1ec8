#!/usr/bin/env bash
# Cost of rate limiting (issue #6): the same route on three gatehouse instances (1 worker
# each, same nginx upstream), measured in alternating rounds, every request carrying an
# X-Client header that cycles through 100,000 distinct values (a wrk Lua script), so the
# limited instances track 100,000 keys:
#   bare          no plugin (the header is ignored)
#   rl-sliding    rate-limiting keyed by X-Client, sliding window (one counter_add)
#   rl-bucket     rate-limiting keyed by X-Client, token bucket (state_get + state_cas)
# The limits are far above what wrk reaches: every request is admitted (a 429 would make the
# limited instances look cheaper). Prints the table and the added CPU per request of each
# against bare; the target is <= 1 us.
#
# Usage: bench/rate_limit.sh
# Env:   CONNECTIONS (50)  DURATION seconds (10)  ROUNDS (3)  WARMUP seconds (2)  KEYS (100000)
#        GATEHOUSE_BIN (build-bench/gatehouse, built if missing)  KEEP_TMP=1  BENCH_SKIP_DEPS=1
set -euo pipefail

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

bench_knobs
KEYS=${KEYS:-100000}
bench_require_uint KEYS "$KEYS" 1
bench_init
bench_ensure_deps
bench_resolve_gatehouse
make -C "$(dirname "$GATEHOUSE_BIN")" -j2 plugin-rate-limiting >/dev/null ||
  bench_die "building the plugin failed"
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
docs = {"bare": doc([]), "rl-sliding": doc(limiter("sliding-window")),
        "rl-bucket": doc(limiter("token-bucket"))}
for name, d in docs.items():
    json.dump(d, open(f"{tmp}/{name}.json", "w"))
PY

# wrk sends the same headers on every request unless a Lua script builds each one; bench_wrk
# takes no script, so wrk is wrapped. bench_wrk always starts wrk in the background, where
# `exec` replaces only that subshell (and keeps BENCH_WRK_PID the wrk process's).
cat >"$BENCH_TMP/keys.lua" <<LUA
local n = 0
request = function()
  n = n + 1
  return wrk.format(nil, nil, {["X-Client"] = "client-" .. (n % $KEYS)})
end
LUA
# (bench_environment's `wrk -v` runs in a pipeline subshell too.)
wrk() { exec "$(type -P wrk)" -s "$BENCH_TMP/keys.lua" "$@"; }

GH_PLUGIN_DIR="$(dirname "$GATEHOUSE_BIN")/plugins"
names=(bare rl-sliding rl-bucket)
for name in "${names[@]}"; do
  bench_start_gatehouse "$name" "$BENCH_TMP/$name.json"
  BENCH_PID_OF[$name]=$GH_PID
  BENCH_URL_OF[$name]="http://127.0.0.1:$GH_PORT/"
  BENCH_HEADER_OF[$name]="X-Client: check"
  bench_check_body "$name" "${BENCH_URL_OF[$name]}"  # must be a 200 with the upstream's body
done
# The limited instances must really be limiting: RateLimit headers on their responses.
for name in rl-sliding rl-bucket; do
  curl -s -D - -o /dev/null -H 'X-Client: check' "${BENCH_URL_OF[$name]}" | grep -qi '^ratelimit:' ||
    bench_die "$name: no RateLimit header (plugin not running?)"
done

bench_rounds "${names[@]}"
{
  echo
  bench_environment
  echo "keys: $KEYS distinct X-Client values"
  bench_table rate-limit "${names[@]}"
  # shellcheck disable=SC2086  # the RES_* values are space-separated lists
  base=$(bench_median ${RES_CPU[bare]})
  for name in rl-sliding rl-bucket; do
    # shellcheck disable=SC2086
    awk -v n="$name" -v a="$base" -v b="$(bench_median ${RES_CPU[$name]})" \
      'BEGIN { printf "added CPU per request by %s: %.2f us\n", n, b - a }'
  done
  bench_per_round "${names[@]}"
  for w in "${BENCH_WARNINGS[@]}"; do printf 'WARNING: %s\n' "$w"; done
} | tee "$BENCH_REPO/bench/results/rate-limit-$(date +%Y%m%d-%H%M%S).txt"
