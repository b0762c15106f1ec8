#!/usr/bin/env bash
# Cost of the plugin chain (issue #4): the same route with no plugins and with a chain of
# five no-op plugins (on_request, on_response and on_log each), two gatehouse instances
# (1 worker each) on the same nginx upstream, measured in alternating rounds. Prints both and
# the added CPU per plugin per request (target: <= 0.3 us).
#
# Usage: bench/plugins.sh
# Env:   CONNECTIONS (50)  DURATION seconds (10)  ROUNDS (3)  WARMUP seconds (2)
#        GATEHOUSE_BIN (build-bench/gatehouse, built if missing)  KEEP_TMP=1  BENCH_SKIP_DEPS=1
set -euo pipefail

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

bench_knobs
bench_init
bench_ensure_deps
bench_resolve_gatehouse
bench_start_upstream

# The no-op plugins are the test plugins' noop.c, built here as a third party would: one C
# file against the SDK header, nothing else.
plugin_dir="$BENCH_TMP/plugins"
mkdir -p "$plugin_dir"
cc -std=c99 -O2 -shared -fPIC -fvisibility=hidden -I"$BENCH_REPO/plugin-sdk/include" \
  "$BENCH_REPO/tests/abi/plugins/noop.c" -o "$plugin_dir/noop.so" || bench_die "building noop.so failed"

config() {  # config PLUGINS_JSON FILE
  cat >"$2" <<JSON
{"upstreams":[{"name":"bench-upstream","targets":[{"address":"127.0.0.1:$UPSTREAM_PORT"}]}],
 "routes":[{"name":"all","match":{"paths":["/"]},"upstream":"bench-upstream"}],
 "plugins":[$1]}
JSON
}
config "" "$BENCH_TMP/none.json"
config '{"name":"noop-1"},{"name":"noop-2"},{"name":"noop-3"},{"name":"noop-4"},{"name":"noop-5"}' \
  "$BENCH_TMP/five.json"

GH_PLUGIN_DIR="$plugin_dir"
bench_start_gatehouse no-plugins "$BENCH_TMP/none.json"
BENCH_PID_OF[no-plugins]=$GH_PID
BENCH_URL_OF[no-plugins]="http://127.0.0.1:$GH_PORT/"
bench_start_gatehouse five-noop "$BENCH_TMP/five.json"
BENCH_PID_OF[five-noop]=$GH_PID
BENCH_URL_OF[five-noop]="http://127.0.0.1:$GH_PORT/"
bench_check_body no-plugins "${BENCH_URL_OF[no-plugins]}"
bench_check_body five-noop "${BENCH_URL_OF[five-noop]}"

bench_rounds no-plugins five-noop
{
  echo
  bench_environment
  bench_table chain no-plugins five-noop
  cpu0=$(bench_median ${RES_CPU[no-plugins]})
  cpu5=$(bench_median ${RES_CPU[five-noop]})
  awk -v a="$cpu0" -v b="$cpu5" 'BEGIN {
    printf "added CPU per request by 5 no-op plugins: %.2f us; per plugin: %.3f us (target <= 0.3 us)\n", b - a, (b - a) / 5 }'
  for w in "${BENCH_WARNINGS[@]}"; do printf 'WARNING: %s\n' "$w"; done
} | tee "$BENCH_REPO/bench/results/plugins-$(date +%Y%m%d-%H%M%S).txt"
