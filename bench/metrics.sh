#!/usr/bin/env bash
# Cost of observability on the data plane (issue #9): the same route on three gatehouse
# instances (1 worker each, same nginx upstream), measured in alternating rounds:
#   obs-off   [metrics] enabled = false, [tracing] propagate = false
#   metrics   per-request metrics on, trace context off
#   defaults  metrics and trace context on (the shipped defaults)
# Prints the three and the added CPU per request of metrics (target <= 0.2 us) and of trace
# context propagation.
#
# Usage: bench/metrics.sh
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

cat >"$BENCH_TMP/config.json" <<JSON
{"upstreams":[{"name":"bench-upstream","targets":[{"address":"127.0.0.1:$UPSTREAM_PORT"}]}],
 "routes":[{"name":"all","match":{"paths":["/"]},"upstream":"bench-upstream"}]}
JSON

start() {  # start NAME EXTRA_INI
  GH_EXTRA_INI=$2 bench_start_gatehouse "$1" "$BENCH_TMP/config.json"
  BENCH_PID_OF[$1]=$GH_PID
  BENCH_URL_OF[$1]="http://127.0.0.1:$GH_PORT/"
  bench_check_body "$1" "${BENCH_URL_OF[$1]}"
}
start obs-off '[metrics]\nenabled = false\n[tracing]\npropagate = false'
start metrics '[tracing]\npropagate = false'
start defaults ''

bench_rounds obs-off metrics defaults
{
  echo
  bench_environment
  bench_table observe obs-off metrics defaults
  off=$(bench_median ${RES_CPU[obs-off]})
  met=$(bench_median ${RES_CPU[metrics]})
  all=$(bench_median ${RES_CPU[defaults]})
  awk -v a="$off" -v b="$met" -v c="$all" 'BEGIN {
    printf "added CPU per request: metrics %.3f us (target <= 0.2 us); trace context %.3f us; both %.3f us\n", b - a, c - b, c - a }'
  for w in "${BENCH_WARNINGS[@]}"; do printf 'WARNING: %s\n' "$w"; done
} | tee "$BENCH_REPO/bench/results/metrics-$(date +%Y%m%d-%H%M%S).txt"
