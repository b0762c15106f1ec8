#!/usr/bin/env bash
# Route-table scaling: does gatehouse's per-request cost grow with the number of routes?
# Runs two gatehouse instances (1 worker each) against the same nginx upstream, one with
# ROUTES_SMALL (10) and one with ROUTES_LARGE (10,000) prefix routes "/svc<i>/api", and
# sends every request to a route in the MIDDLE of the table (a linear scan would pay for
# half the table on each request). Prints req/s, p50, p99 and CPU µs/request per table
# size (medians over ROUNDS) and the ratio large/small; the goal is a ratio near 1.0.
# Saves the result to bench/results/routes-<timestamp>.txt.
#
# Usage: bench/routes.sh
# Env:   CONNECTIONS (50)  DURATION seconds (10)  ROUNDS (3)  WARMUP seconds (2)
#        WRK_THREADS (1)   ROUTES_SMALL (10)  ROUTES_LARGE (10000)
#        GATEHOUSE_BIN (build-bench/gatehouse, built if missing)
#        OTHER_LOAD_MAX (10): % of a core other processes may use during a measured run
#        before it is retried, up to BUSY_RETRIES (2) times
#        KEEP_TMP=1 keeps the scratch dir; BENCH_SKIP_DEPS=1 skips install-deps.sh
set -euo pipefail

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"


# start_table NAME N: gatehouse with an N-route table; its wrk URL targets route N/2 (the
# middle), below the route's prefix so the segment-aware prefix match is exercised.
start_table() {
  local name=$1 n=$2 mid json
  json="$BENCH_TMP/routes-$n.json"
  bench_write_routes_json "$n" "$json"
  bench_start_gatehouse "$name" "$json"
  mid=$(((n + 1) / 2))
  BENCH_PID_OF[$name]=$GH_PID
  BENCH_URL_OF[$name]="http://127.0.0.1:$GH_PORT/svc$mid/api/items"
  # Prove the table is what routes the request: a path outside it must be a 404.
  local code
  code=$(curl -sS --max-time 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$GH_PORT/svc0/api/items") ||
    bench_die "$name: curl failed"
  [[ "$code" == 404 ]] || bench_die "$name: /svc0/api/items (no such route) answered $code, expected 404"
  bench_log "$name: $n routes, measuring ${BENCH_URL_OF[$name]} (pid $GH_PID)"
}

main() {
  bench_knobs
  local small=${ROUTES_SMALL:-10} large=${ROUTES_LARGE:-10000}
  bench_require_uint ROUTES_SMALL "$small" 1
  bench_require_uint ROUTES_LARGE "$large" 1
  bench_init
  bench_ensure_deps
  bench_resolve_gatehouse

  bench_start_upstream
  bench_log "upstream nginx on 127.0.0.1:$UPSTREAM_PORT (pid $UPSTREAM_PID)"
  local a="N=$small" b="N=$large"
  start_table "$a" "$small"
  start_table "$b" "$large"
  bench_check_body "$a" "${BENCH_URL_OF[$a]}"
  bench_check_body "$b" "${BENCH_URL_OF[$b]}"

  # Both instances stay up; the idle one costs nothing while the other is measured, and
  # alternating them per round spreads drift over both.
  bench_rounds "$a" "$b"

  mkdir -p "$BENCH_RESULTS_DIR"
  local out report
  out="$BENCH_RESULTS_DIR/routes-$(date +%Y%m%d-%H%M%S).txt"
  report=$(
    bench_table routes "$a" "$b"
    echo
    bench_ratio_line "$b / $a" "$b" "$a"
    if ((${#BENCH_WARNINGS[@]})); then
      echo
      printf 'WARNING: %s\n' "${BENCH_WARNINGS[@]}"
    fi
  )
  printf '%s\n' "$report"
  {
    bench_environment
    echo
    printf '%s\n' "$report"
    echo
    bench_per_round "$a" "$b"
  } >"$out"
  bench_log "results written to $out"
}

main "$@"
