#!/usr/bin/env bash
# Admin writes against a large configuration (issue #3): with ROUTES (10,000) routes in the
# store, how long does one route write take through the admin API (commit + rebuild of the
# whole snapshot + publish, i.e. until the next proxied request sees it), and what happens
# to the proxy's p99 while writes arrive back to back?
#
# Prints: the median and max latency of WRITES single writes (target: under 1 s), and the
# proxy's p99 without writes and during a burst of writes (target: within 1.5x).
#
# Usage: bench/admin_writes.sh
# Env:   ROUTES (10000)  WRITES (20)  CONNECTIONS (50)  DURATION seconds (10)  WARMUP (2)
#        WRITE_RATE: pace the burst, e.g. 10/s (curl --rate); unset = back to back
#        GATEHOUSE_BIN (build-bench/gatehouse, built if missing)  KEEP_TMP=1  BENCH_SKIP_DEPS=1
set -euo pipefail

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ROUTES=${ROUTES:-10000}
WRITES=${WRITES:-20}
bench_knobs
bench_require_uint ROUTES "$ROUTES" 2
bench_require_uint WRITES "$WRITES" 1
WRITE_RATE=${WRITE_RATE:-}
[[ -z "$WRITE_RATE" || "$WRITE_RATE" =~ ^[0-9]+/(s|m)$ ]] || bench_die "WRITE_RATE must look like 10/s, not '$WRITE_RATE'"

bench_init
bench_ensure_deps
bench_resolve_gatehouse
bench_start_upstream

bench_write_routes_json "$ROUTES" "$BENCH_TMP/routes.json"
bench_start_gatehouse gatehouse "$BENCH_TMP/routes.json"
[[ -n "$GH_ADMIN_PORT" && -n "$GH_ADMIN_TOKEN" ]] || bench_die "gatehouse did not report its admin port and token"
BENCH_PID_OF[gatehouse]=$GH_PID
ADMIN="http://127.0.0.1:$GH_ADMIN_PORT"
URL="http://127.0.0.1:$GH_PORT/svc$((ROUTES / 2))/api/x"
bench_check_body gatehouse "$URL"

# admin_write METHOD PATH JSON: one admin call; prints its total time in ms; dies unless 2xx.
admin_write() {
  local out="$BENCH_TMP/admin.out" code time
  read -r code time < <(curl -sS -o "$out" -w '%{http_code} %{time_total}\n' -X "$1" \
    -H "Authorization: Bearer $GH_ADMIN_TOKEN" -H 'Content-Type: application/json' --data "$3" "$ADMIN$2")
  [[ "$code" == 2* ]] || bench_die "admin $1 $2 answered $code: $(head -c 300 "$out")"
  awk -v t="$time" 'BEGIN { printf "%.1f\n", t * 1000 }'
}

# 1. Single writes: each creates a route, then checks the proxy already routes it.
bench_log "timing $WRITES route writes with $ROUTES routes in the store"
latencies=()
for ((i = 1; i <= WRITES; i++)); do
  latencies+=("$(admin_write POST /routes "{\"name\":\"bench-w$i\",\"match\":{\"paths\":[\"/bench-w$i\"]},\"upstream\":\"bench-upstream\"}")")
  code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$GH_PORT/bench-w$i")
  [[ "$code" == 200 ]] || bench_die "route bench-w$i was not live after its write returned (HTTP $code)"
done
write_median=$(bench_median "${latencies[@]}")
write_max=$(printf '%s\n' "${latencies[@]}" | sort -g | tail -n1)

# 2. Proxy p99 without writes, then with writes back to back for the whole run.
bench_measure gatehouse "$GH_PID" "$URL"
p99_quiet=$M_P99
rps_quiet=$M_RPS

# The writes come from one curl process over one keep-alive connection, each sent when the
# previous one is answered: forking a client per write would load the 2-core box more than
# the writes themselves do.
burst_cfg="$BENCH_TMP/burst.curl"
burst_out="$BENCH_TMP/burst.codes"
for ((i = 0; i < 10000; i++)); do
  ((i == 0)) || echo next
  printf '%s\n' "url = \"$ADMIN/routes/bench-w1\"" 'request = "PATCH"' \
    "header = \"Authorization: Bearer $GH_ADMIN_TOKEN\"" 'header = "Content-Type: application/json"' \
    "data = \"{\\\"match\\\":{\\\"paths\\\":[\\\"/bench-w1\\\",\\\"/alt$((i % 2))\\\"]}}\"" \
    'output = "/dev/null"' 'write-out = "%{http_code}\n"'
done >"$burst_cfg"
config_version() {
  curl -sS -H "Authorization: Bearer $GH_ADMIN_TOKEN" "$ADMIN/status" |
    sed -n 's/.*"config_version":\([0-9]*\).*/\1/p'
}
version_before=$(config_version)
# Line-buffered so the status codes written before the kill below reach the file.
stdbuf -oL curl -sS ${WRITE_RATE:+--rate "$WRITE_RATE"} -K "$burst_cfg" >"$burst_out" &
burst_pid=$!
bench_measure gatehouse "$GH_PID" "$URL"
p99_burst=$M_P99
rps_burst=$M_RPS
kill "$burst_pid" 2>/dev/null || bench_die "the write burst ended before the measurement did"
wait "$burst_pid" 2>/dev/null || true
writes_during=$(($(config_version) - version_before))
((writes_during > 0)) || bench_die "no write landed during the burst"
if head -n -1 "$burst_out" | grep -qv '^2'; then
  bench_die "a write during the burst failed: $(grep -v '^2' "$burst_out" | sort | uniq -c | head -3)"
fi

{
  echo
  bench_environment
  printf 'routes in store: %s\n\n' "$ROUTES"
  printf 'route write (commit + rebuild + publish), %s writes: median %s ms, max %s ms (target < 1000 ms)\n' \
    "$WRITES" "$write_median" "$write_max"
  printf 'proxy without writes:       %8s req/s  p99 %6s us\n' "$rps_quiet" "$p99_quiet"
  printf 'proxy during %4s writes (%s): %8s req/s  p99 %6s us\n' "$writes_during" \
    "${WRITE_RATE:-back to back}" "$rps_burst" "$p99_burst"
  printf 'p99 during writes / quiet: %sx (target <= 1.5x)\n' "$(bench_ratio "$p99_burst" "$p99_quiet")"
  for w in "${BENCH_WARNINGS[@]}"; do printf 'WARNING: %s\n' "$w"; done
} | tee "$BENCH_REPO/bench/results/admin-writes-$(date +%Y%m%d-%H%M%S).txt"
