# shellcheck shell=bash
# Shared helpers for the gatehouse benchmarks (bench/run.sh, bench/routes.sh).
# Source it; it defines functions and a few globals, and runs nothing on its own.
#
# Conventions:
#   - Every process a script starts goes through bench_spawn, so bench_cleanup (installed as
#     the EXIT/INT/TERM trap by bench_init) can kill all of them, including on Ctrl-C.
#   - Every file (configs, databases, logs, wrk output) lives under $BENCH_TMP (mktemp -d).
#   - Functions that start things report through globals (bash cannot return a PID from a
#     $(...) subshell: the child would belong to the subshell, not to our cleanup list).

BENCH_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BENCH_REPO=$(cd "$BENCH_LIB_DIR/.." && pwd)
# shellcheck disable=SC2034  # used by the scripts that source this file
BENCH_RESULTS_DIR="$BENCH_LIB_DIR/results"
BENCH_TMP=""
BENCH_PIDS=()
BENCH_WRK_PID=""
BENCH_CLK_TCK=""
# The body the upstream returns; every proxy must relay exactly this before we measure it.
BENCH_UPSTREAM_BODY='hello world'

# Log to stderr so stdout stays the table a human (or a pipe) reads.
bench_log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# Fail loudly: a benchmark that silently measures the wrong thing is worse than none.
bench_die() {
  printf '[bench] FATAL: %s\n' "$*" >&2
  exit 1
}

# Create the scratch dir and install the cleanup trap; call once, first thing.
bench_init() {
  BENCH_TMP=$(mktemp -d "${TMPDIR:-/tmp}/gatehouse-bench.XXXXXX")
  BENCH_CLK_TCK=$(getconf CLK_TCK)
  trap bench_cleanup EXIT
  # On Ctrl-C / kill, clean up and exit with the conventional status; the EXIT trap then
  # finds nothing left to do.
  trap 'bench_cleanup; trap - EXIT; exit 130' INT
  trap 'bench_cleanup; trap - EXIT; exit 143' TERM
}

# Kill everything we started (newest first) and delete the scratch dir. Idempotent.
# KEEP_TMP=1 keeps the scratch dir (configs, logs, raw wrk output) for debugging.
bench_cleanup() {
  local i
  if [[ -n "${BENCH_WRK_PID:-}" ]]; then
    kill -KILL "$BENCH_WRK_PID" 2>/dev/null || true
    wait "$BENCH_WRK_PID" 2>/dev/null || true
    BENCH_WRK_PID=""
  fi
  for ((i = ${#BENCH_PIDS[@]} - 1; i >= 0; i--)); do
    bench_stop "${BENCH_PIDS[i]}"
  done
  BENCH_PIDS=()
  if [[ -n "$BENCH_TMP" && -d "$BENCH_TMP" ]]; then
    if [[ "${KEEP_TMP:-0}" == 1 ]]; then
      bench_log "kept scratch dir $BENCH_TMP"
    else
      rm -rf -- "$BENCH_TMP"
    fi
  fi
  BENCH_TMP=""
}

# Make sure nginx, haproxy, wrk, curl and python3 exist; install-deps.sh is a no-op when
# everything is already installed. BENCH_SKIP_DEPS=1 skips it (non-Debian hosts).
bench_ensure_deps() {
  if [[ "${BENCH_SKIP_DEPS:-0}" != 1 ]]; then
    "$BENCH_REPO/scripts/install-deps.sh" --bench || bench_die "scripts/install-deps.sh --bench failed"
  fi
  # nginx and haproxy live in /usr/sbin, which is not on a normal user's PATH.
  PATH="$PATH:/usr/sbin:/sbin"
  local t
  for t in nginx haproxy wrk curl python3; do
    command -v "$t" >/dev/null || bench_die "$t not found (run scripts/install-deps.sh --bench)"
  done
}

# Resolve the gatehouse binary into GATEHOUSE_BIN: the env override if set, else
# build-bench/gatehouse, built (Release, gatehouse target only) when missing. Tests are
# off because the benchmark does not need them; -Werror is off because GCC 12 emits
# false-positive -Wrestrict warnings at -O3 that would otherwise fail a Release build.
bench_resolve_gatehouse() {
  if [[ -n "${GATEHOUSE_BIN:-}" ]]; then
    [[ -x "$GATEHOUSE_BIN" ]] || bench_die "GATEHOUSE_BIN=$GATEHOUSE_BIN is not an executable"
    return
  fi
  GATEHOUSE_BIN="$BENCH_REPO/build-bench/gatehouse"
  # Always (re)build: make is a no-op when current, and a stale binary measures old code.
  bench_log "building $GATEHOUSE_BIN (Release)"
  cmake -S "$BENCH_REPO" -B "$BENCH_REPO/build-bench" -DCMAKE_BUILD_TYPE=Release \
    -DGATEHOUSE_BUILD_TESTS=OFF >/dev/null || bench_die "cmake configure failed"
  make -C "$BENCH_REPO/build-bench" -j2 gatehouse >/dev/null || bench_die "building gatehouse failed"

  local type
  type=$(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$(dirname "$GATEHOUSE_BIN")/CMakeCache.txt" 2>/dev/null || true)
  if [[ -n "$type" && "$type" != Release ]]; then
    bench_log "WARNING: $GATEHOUSE_BIN is a $type build, not Release; numbers will be pessimistic"
  fi
}

# Print a TCP port that is free right now. The kernel picks it (bind to port 0), so there
# are no hard-coded ports; the small race until the server binds it is acceptable here.
bench_free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# Wait until 127.0.0.1:PORT accepts connections, or die after TIMEOUT seconds (default 10).
# PID, if given, must stay alive meanwhile, so a crashed server fails fast with its log.
bench_wait_port() {
  local port=$1 pid=${2:-} timeout=${3:-10} log=${4:-}
  local deadline=$((SECONDS + timeout))
  while ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
    if [[ -n "$pid" ]] && ! kill -0 "$pid" 2>/dev/null; then
      [[ -n "$log" && -f "$log" ]] && cat "$log" >&2
      bench_die "process $pid exited before listening on port $port"
    fi
    ((SECONDS < deadline)) || bench_die "nothing listening on 127.0.0.1:$port after ${timeout}s"
    sleep 0.05
  done
}

# bench_spawn NAME CMD...: start CMD in the background with stdout+stderr in
# $BENCH_TMP/NAME.log and remember its PID for cleanup. Sets BENCH_PID and BENCH_LOG.
# The command is exec'd by the forked shell, so $! is the server's own PID.
bench_spawn() {
  local name=$1
  shift
  BENCH_LOG="$BENCH_TMP/$name.log"
  "$@" >"$BENCH_LOG" 2>&1 &
  BENCH_PID=$!
  BENCH_PIDS+=("$BENCH_PID")
  BENCH_LOG_OF[$BENCH_PID]=$BENCH_LOG
}
declare -A BENCH_LOG_OF=()

# bench_assert_alive NAME PID: die with the server's exit status and last log lines if it is
# gone, so a crash mid-benchmark reads as a crash, not as "connection refused" from wrk.
bench_assert_alive() {
  local name=$1 pid=$2 rc=0 how
  kill -0 "$pid" 2>/dev/null && return 0
  wait "$pid" 2>/dev/null || rc=$?
  if ((rc > 128)); then
    how="was killed by signal $((rc - 128)) ($(kill -l $((rc - 128)) 2>/dev/null || echo '?'))"
  else
    how="exited with status $rc"
  fi
  if [[ -n "${BENCH_LOG_OF[$pid]:-}" && -f "${BENCH_LOG_OF[$pid]}" ]]; then
    printf '[bench] last lines of %s:\n' "${BENCH_LOG_OF[$pid]}" >&2
    tail -n 20 "${BENCH_LOG_OF[$pid]}" >&2
  fi
  bench_die "$name (pid $pid) $how during the benchmark"
}

# Stop PID gracefully (SIGTERM), then SIGKILL if it is still alive after 5 s, so a hung
# server never leaves the benchmark (or the machine) with stray processes.
bench_stop() {
  local pid=$1 i
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  if kill -0 "$pid" 2>/dev/null; then
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}

# Print utime+stime (clock ticks) of PID plus all its descendants. gatehouse and HAProxy are
# one process (threads are included in the process's stat), but nginx does its work in a
# worker child of the master, so summing the tree measures every proxy the same way.
bench_cpu_ticks() {
  local root=$1 f line rest pid ppid
  local -A parent=() ticks=()
  for f in /proc/[0-9]*/stat; do
    read -r line <"$f" 2>/dev/null || continue
    pid=${line%% *}
    # comm (field 2) may contain spaces and ')': skip past the last ')'.
    rest=${line##*) }
    # shellcheck disable=SC2086  # deliberate word splitting of the stat fields
    set -- $rest
    # After comm: $1=state(3) $2=ppid(4) ... $12=utime(14) $13=stime(15).
    ppid=$2
    parent[$pid]=$ppid
    ticks[$pid]=$((${12} + ${13}))
  done
  [[ -n "${ticks[$root]:-}" ]] || bench_die "process $root is gone (crashed?)"
  # Walk the tree breadth-first from root.
  local total=0 queue=("$root") cur p
  while ((${#queue[@]})); do
    cur=${queue[0]}
    queue=("${queue[@]:1}")
    total=$((total + ${ticks[$cur]:-0}))
    for p in "${!parent[@]}"; do
      [[ "${parent[$p]}" == "$cur" ]] && queue+=("$p")
    done
  done
  echo "$total"
}

# Print the user+nice+system clock ticks of the whole machine (all CPUs) from /proc/stat,
# to notice other load (compiles, tests) during a run. irq/softirq are left out: kernels
# with IRQ time accounting book our own loopback traffic there, not to any process.
bench_busy_ticks() {
  awk '$1 == "cpu" { print $2 + $3 + $4; exit }' /proc/stat
}

# Print the CPU ticks of this shell's reaped children (cutime+cstime, fields 16 and 17),
# which is how wrk's CPU time becomes visible after it exits.
bench_child_ticks() {
  local line rest
  read -r line <"/proc/$$/stat"
  rest=${line##*) }
  # shellcheck disable=SC2086  # deliberate word splitting of the stat fields
  set -- $rest
  echo $((${14} + ${15}))
}

# bench_check_body NAME URL: the proxy must answer 200 with exactly the upstream's body,
# or we would be benchmarking an error page.
bench_check_body() {
  local name=$1 url=$2 out="$BENCH_TMP/check-$1.body" code
  local extra=()
  [[ -n "${BENCH_HEADER_OF[$name]:-}" ]] && extra=(-H "${BENCH_HEADER_OF[$name]}")
  code=$(curl -sS --max-time 5 "${extra[@]}" -o "$out" -w '%{http_code}' "$url") || bench_die "$name: curl $url failed"
  [[ "$code" == 200 ]] || bench_die "$name: $url answered HTTP $code, expected 200; body: $(head -c 300 "$out")"
  cmp -s "$out" <(printf '%s\n' "$BENCH_UPSTREAM_BODY") ||
    bench_die "$name: $url body is '$(head -c 300 "$out")', expected '$BENCH_UPSTREAM_BODY'"
}

# bench_wrk URL DURATION_S CONNECTIONS THREADS OUTFILE: run wrk --latency and parse it into
#   WRK_RPS WRK_P50_US WRK_P99_US WRK_REQUESTS WRK_ERRORS (text; empty when clean).
bench_wrk() {
  local url=$1 dur=$2 conns=$3 threads=$4 out=$5 header=${6:-} parsed
  local extra=()
  [[ -n "$header" ]] && extra=(-H "$header")
  # wrk catches SIGINT and exits 0, and bash skips its own INT trap when a foreground child
  # "handled" the signal, so Ctrl-C would not stop the script. Waiting on a background wrk
  # instead lets the trap run at once (the wait builtin returns on a trapped signal).
  local rc=0
  wrk --latency -t"$threads" -c"$conns" -d"${dur}s" "${extra[@]}" "$url" >"$out" 2>&1 &
  BENCH_WRK_PID=$!
  wait "$BENCH_WRK_PID" || rc=$?
  BENCH_WRK_PID=""
  if ((rc != 0)); then
    cat "$out" >&2
    # The usual reason is a server that died; say which one and why.
    bench_assert_alive upstream "$UPSTREAM_PID"
    local n
    for n in "${!BENCH_PID_OF[@]}"; do bench_assert_alive "$n" "${BENCH_PID_OF[$n]}"; done
    bench_die "wrk failed against $url (exit $rc)"
  fi
  # wrk prints latencies as e.g. 812.00us, 1.23ms, 1.05s (and m/h for absurd cases).
  parsed=$(awk '
    function us(v,   n, u) {
      n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
      if (u == "us") return n
      if (u == "ms") return n * 1e3
      if (u == "s")  return n * 1e6
      if (u == "m")  return n * 60e6
      if (u == "h")  return n * 3600e6
      return -1
    }
    /^[ \t]*50%/            { p50 = us($2) }
    /^[ \t]*99%/            { p99 = us($2) }
    / requests in /         { req = $1 }
    /^Requests\/sec:/       { rps = $2 }
    /Non-2xx or 3xx/        { err = err "non-2xx=" $NF " " }
    /Socket errors:/        { sub(/^[ \t]*Socket errors:[ \t]*/, ""); gsub(/ /, ""); err = err "socket:" $0 " " }
    END {
      if (rps == "" || p50 == "" || p99 == "" || req == "" || p50 < 0 || p99 < 0) exit 1
      printf "%s %.0f %.0f %s %s\n", rps, p50, p99, req, err
    }' "$out") || { cat "$out" >&2; bench_die "cannot parse wrk output ($out)"; }
  read -r WRK_RPS WRK_P50_US WRK_P99_US WRK_REQUESTS WRK_ERRORS <<<"$parsed"
}

# bench_measure NAME PID URL: warm up (WARMUP s, discarded: fills upstream keep-alive pools,
# caches, CPU frequency), then one measured wrk run with the CPU ticks of PID's process tree
# read right before and after. Sets M_RPS M_P50 M_P99 M_CPU (µs of proxy CPU per request)
# and M_OTHER (% of a core used by unrelated processes meanwhile), and appends to
# BENCH_WARNINGS if wrk saw errors, because an error-serving proxy looks fast.
BENCH_WARNINGS=()
BENCH_SEQ=0
bench_measure() {
  local name=$1 pid=$2 url=$3 t0 t1
  local conns=${CONNECTIONS:-50} threads=${WRK_THREADS:-1} dur=${DURATION:-10} warm=${WARMUP:-2}
  bench_assert_alive upstream "$UPSTREAM_PID"
  bench_assert_alive "$name" "$pid"
  if ((warm > 0)); then
    bench_wrk "$url" "$warm" "$conns" "$threads" "$BENCH_TMP/wrk-$name-warmup.txt" "${BENCH_HEADER_OF[$name]:-}"
  fi
  local busy0 busy1 up0 up1 self0 self1 ns0 ns1
  busy0=$(bench_busy_ticks)
  up0=$(bench_cpu_ticks "$UPSTREAM_PID")
  self0=$(bench_child_ticks)
  ns0=$(date +%s%N)
  t0=$(bench_cpu_ticks "$pid")
  BENCH_SEQ=$((BENCH_SEQ + 1))
  bench_wrk "$url" "$dur" "$conns" "$threads" "$BENCH_TMP/wrk-$name-$BENCH_SEQ.txt" "${BENCH_HEADER_OF[$name]:-}"
  bench_assert_alive "$name" "$pid"
  t1=$(bench_cpu_ticks "$pid")
  ns1=$(date +%s%N)
  self1=$(bench_child_ticks)
  up1=$(bench_cpu_ticks "$UPSTREAM_PID")
  busy1=$(bench_busy_ticks)
  # Busy CPU on the box that was neither the proxy, the upstream nor wrk (wrk's time lands
  # in this shell's cutime once it is reaped), in % of one core.
  M_OTHER=$(awk -v b=$((busy1 - busy0)) -v p=$((t1 - t0)) -v u=$((up1 - up0)) -v w=$((self1 - self0)) \
    -v ns=$((ns1 - ns0)) -v hz="$BENCH_CLK_TCK" 'BEGIN { o = (b - p - u - w) / (ns / 1e9 * hz) * 100; printf "%.0f", o < 0 ? 0 : o }')
  ((WRK_REQUESTS > 0)) || bench_die "$name: wrk completed no requests"
  M_RPS=$WRK_RPS
  M_P50=$WRK_P50_US
  M_P99=$WRK_P99_US
  M_CPU=$(awk -v d=$((t1 - t0)) -v hz="$BENCH_CLK_TCK" -v n="$WRK_REQUESTS" 'BEGIN { printf "%.2f", d / hz * 1e6 / n }')
  bench_log "$name: ${M_RPS} req/s, p50 ${M_P50}us, p99 ${M_P99}us, ${M_CPU} cpu-us/req, other load ${M_OTHER}% of a core"
  if [[ -n "$WRK_ERRORS" ]]; then
    BENCH_WARNINGS+=("$name: wrk reported errors: $WRK_ERRORS(numbers are suspect)")
    bench_log "WARNING: $name: $WRK_ERRORS"
  fi
}

# bench_measure_clean NAME PID URL: bench_measure, repeated (up to BUSY_RETRIES times, after
# a pause) while other processes used more than OTHER_LOAD_MAX % of a core during the run:
# a compile or test suite next to the benchmark skews req/s and p99 far more than the
# proxies differ. If the box never calms down, the last numbers are kept with a warning.
bench_measure_clean() {
  local name=$1 try
  for ((try = 0; ; try++)); do
    bench_measure "$@"
    ((M_OTHER > OTHER_LOAD_MAX)) || return 0
    if ((try >= BUSY_RETRIES)); then
      BENCH_WARNINGS+=("$name: other processes used ${M_OTHER}% of a core during its run; req/s and p99 are suspect, rerun on an idle box")
      bench_log "WARNING: $name: the box stayed busy (${M_OTHER}% of a core), keeping these numbers"
      return 0
    fi
    bench_log "other processes used ${M_OTHER}% of a core (max ${OTHER_LOAD_MAX}%): measuring $name again in 5 s"
    sleep 5
  done
}

# Print the median of the numeric arguments (mean of the two middle ones for an even count):
# robust against the one round where wrk and the upstream fought the proxy for a core.
bench_median() {
  printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END {
    if (NR == 0) exit 1
    if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

# Print A/B with two decimals ("n/a" if B is zero).
bench_ratio() {
  awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "n/a"; else printf "%.2f", a / b }'
}

# Write the nginx upstream config and start it: one worker, a fixed small body from a
# location, no access log, effectively unlimited keep-alive requests so the proxies' pooled
# connections are never closed under them. Sets UPSTREAM_PORT and UPSTREAM_PID.
bench_start_upstream() {
  local dir="$BENCH_TMP/nginx-upstream"
  mkdir -p "$dir"
  UPSTREAM_PORT=$(bench_free_port)
  cat >"$dir/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections $BENCH_MAXCONN; }
http {
  access_log off;
  keepalive_requests 10000000;
  keepalive_timeout 300s;
  client_body_temp_path $dir/client_body;
  proxy_temp_path $dir/proxy;
  fastcgi_temp_path $dir/fastcgi;
  uwsgi_temp_path $dir/uwsgi;
  scgi_temp_path $dir/scgi;
  server {
    listen 127.0.0.1:$UPSTREAM_PORT;
    location / {
      default_type text/plain;
      return 200 "$BENCH_UPSTREAM_BODY\n";
    }
  }
}
EOF
  bench_spawn nginx-upstream nginx -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf"
  UPSTREAM_PID=$BENCH_PID
  bench_wait_port "$UPSTREAM_PORT" "$UPSTREAM_PID" 10 "$BENCH_LOG"
  bench_check_body upstream "http://127.0.0.1:$UPSTREAM_PORT/"
}

# bench_write_routes_json N FILE: N prefix routes /svc1/api .. /svcN/api, all to the one upstream.
# python3 because 10,000 routes of JSON are no fun in bash, and it is already a dependency.
bench_write_routes_json() {
  python3 - "$1" "$UPSTREAM_PORT" >"$2" <<'EOF'
import json, sys
n, port = int(sys.argv[1]), int(sys.argv[2])
cfg = {
    "upstreams": [{"name": "bench-upstream",
                   "targets": [{"address": f"127.0.0.1:{port}", "weight": 100}]}],
    "routes": [{"name": f"svc{i}", "match": {"paths": [f"/svc{i}/api"]},
                "upstream": "bench-upstream"} for i in range(1, n + 1)],
}
json.dump(cfg, sys.stdout)
EOF
}

# bench_start_gatehouse NAME CONFIG_JSON: import the config into a fresh SQLite DB and run
# gatehouse with one worker on a kernel-picked port (read back from its "listening" event,
# so there is no port race). The admin API gets a kernel-picked port too. Sets GH_PORT,
# GH_PID, GH_ADMIN_PORT and GH_ADMIN_TOKEN (printed once at first start).
bench_start_gatehouse() {
  local name=$1 json=$2 dir="$BENCH_TMP/$1" deadline
  mkdir -p "$dir"
  "$GATEHOUSE_BIN" config import "$json" --db "$dir/gatehouse.db" ${GH_PLUGIN_DIR:+--plugin-dir "$GH_PLUGIN_DIR"} >"$dir/import.log" 2>&1 ||
    { cat "$dir/import.log" >&2; bench_die "$name: gatehouse config import failed"; }
  # An explicit INI so a stray /etc/gatehouse/gatehouse.conf or $GATEHOUSE_CONFIG cannot
  # change what we measure; a short drain keeps shutdown quick.
  cat >"$dir/gatehouse.ini" <<EOF
[proxy]
listen = 127.0.0.1:0
workers = 1
[admin]
listen = 127.0.0.1:0
[store]
path = $dir/gatehouse.db
[server]
event_log = stderr
log_level = info
drain_timeout_ms = 1000
EOF
  if [[ -n "${GH_PLUGIN_DIR:-}" ]]; then
    printf '[plugins]\ndir = %s\n' "$GH_PLUGIN_DIR" >>"$dir/gatehouse.ini"
  fi
  # GH_EXTRA_INI: more INI text for this instance (e.g. "[metrics]\nenabled = false").
  if [[ -n "${GH_EXTRA_INI:-}" ]]; then
    printf '%b\n' "$GH_EXTRA_INI" >>"$dir/gatehouse.ini"
  fi
  bench_spawn "$name" "$GATEHOUSE_BIN" run --config "$dir/gatehouse.ini" --db "$dir/gatehouse.db" \
    --listen 127.0.0.1:0 --workers 1
  GH_PID=$BENCH_PID
  GH_PORT=""
  deadline=$((SECONDS + 15))
  while [[ -z "$GH_PORT" ]]; do
    if ! kill -0 "$GH_PID" 2>/dev/null; then
      cat "$BENCH_LOG" >&2
      bench_die "$name: gatehouse exited during startup"
    fi
    ((SECONDS < deadline)) || { cat "$BENCH_LOG" >&2; bench_die "$name: gatehouse never logged 'listening'"; }
    sleep 0.05
    GH_PORT=$(sed -n 's/.*"event":"listening".*"proxy":"[^"]*:\([0-9][0-9]*\)".*/\1/p' "$BENCH_LOG" | head -n1)
  done
  bench_wait_port "$GH_PORT" "$GH_PID" 10 "$BENCH_LOG"
  GH_ADMIN_PORT=$(sed -n 's/.*"event":"listening".*"admin":"[^"]*:\([0-9][0-9]*\)".*/\1/p' "$BENCH_LOG" | head -n1)
  GH_ADMIN_TOKEN=$(grep -o 'gha_[A-Za-z0-9_-]*' "$BENCH_LOG" | head -n1 || true)
}

# Print "host cores, kernel, tool versions" so a results file says what it was measured on.
bench_environment() {
  printf 'host: %s, %s CPU cores, kernel %s\n' "$(hostname)" "$(nproc)" "$(uname -r)"
  printf 'gatehouse: %s (%s), tree %s\n' "$GATEHOUSE_BIN" "$("$GATEHOUSE_BIN" version 2>/dev/null | head -n1)" \
    "$(git -C "$BENCH_REPO" describe --always --dirty 2>/dev/null || echo unknown)"
  printf 'nginx: %s; haproxy: %s; wrk: %s\n' \
    "$(nginx -v 2>&1 | sed 's/.*version: //')" \
    "$(haproxy -v 2>/dev/null | head -n1 | awk '{ print $3 }')" \
    "$(wrk -v 2>&1 | head -n1 | awk '{ print $2 }')"
  printf 'wrk: %s connections, %s thread(s), %ss measured after %ss warm-up, %s round(s)\n' \
    "${CONNECTIONS:-50}" "${WRK_THREADS:-1}" "${DURATION:-10}" "${WARMUP:-2}" "${ROUNDS:-3}"
  printf 'runs with other load above %s%% of a core were retried up to %s time(s)\n' \
    "${OTHER_LOAD_MAX:-10}" "${BUSY_RETRIES:-2}"
}

# bench_require_uint NAME VALUE MIN: validate an env knob up front, before a long run trips
# over it halfway through.
bench_require_uint() {
  local name=$1 value=$2 min=$3
  if [[ ! "$value" =~ ^[0-9]+$ ]] || ((value < min)); then
    bench_die "$name must be an integer >= $min, got '$value'"
  fi
}

# bench_rounds NAME...: ROUNDS times, measure every NAME (its PID and URL come from the
# BENCH_PID_OF / BENCH_URL_OF maps), rotating the start of the order each round so no
# contestant always runs first (cold) or last (after the box has heated up). Appends each
# round's numbers to the RES_* maps ("v1 v2 ...").
# BENCH_HEADER_OF[name]: one request header ("Name: value") wrk sends to that server.
declare -A BENCH_HEADER_OF=()
declare -A BENCH_PID_OF=() BENCH_URL_OF=() RES_RPS=() RES_P50=() RES_P99=() RES_CPU=()
bench_rounds() {
  local names=("$@") n=$# round i name
  for ((round = 0; round < ${ROUNDS:-3}; round++)); do
    bench_log "round $((round + 1))/${ROUNDS:-3}"
    for ((i = 0; i < n; i++)); do
      name=${names[(round + i) % n]}
      bench_measure_clean "$name" "${BENCH_PID_OF[$name]}" "${BENCH_URL_OF[$name]}"
      RES_RPS[$name]+="$M_RPS "
      RES_P50[$name]+="$M_P50 "
      RES_P99[$name]+="$M_P99 "
      RES_CPU[$name]+="$M_CPU "
    done
  done
}

# bench_table HEADER NAME...: print the table of per-NAME medians over the rounds and fill
# MED_RPS / MED_P99 / MED_CPU for the ratio lines. HEADER names the first column.
declare -A MED_RPS=() MED_P50=() MED_P99=() MED_CPU=()
bench_table() {
  local header=$1 name
  shift
  # "µs" is two bytes and printf pads bytes in the C locale, so the header's padding is
  # written out literally rather than computed, to line up in any locale.
  printf '%-10s |      req/s |   p50 µs |   p99 µs | CPU µs/req\n' "$header"
  printf '%s\n' "-----------+------------+----------+----------+-----------"
  for name in "$@"; do
    # shellcheck disable=SC2086  # the RES_* values are space-separated lists
    {
      MED_RPS[$name]=$(bench_median ${RES_RPS[$name]})
      MED_P50[$name]=$(bench_median ${RES_P50[$name]})
      MED_P99[$name]=$(bench_median ${RES_P99[$name]})
      MED_CPU[$name]=$(bench_median ${RES_CPU[$name]})
    }
    printf '%-10s | %10.0f | %8.0f | %8.0f | %10.2f\n' "$name" \
      "${MED_RPS[$name]}" "${MED_P50[$name]}" "${MED_P99[$name]}" "${MED_CPU[$name]}"
  done
}

# bench_ratio_line LABEL A B: "LABEL: cpu/req X.XXx, p99 X.XXx, req/s X.XXx" for A over B.
# cpu/req and p99: lower is better for A; req/s: higher is better.
bench_ratio_line() {
  local label=$1 a=$2 b=$3
  printf '%s: cpu/req %sx, p99 %sx, req/s %sx\n' "$label" \
    "$(bench_ratio "${MED_CPU[$a]}" "${MED_CPU[$b]}")" \
    "$(bench_ratio "${MED_P99[$a]}" "${MED_P99[$b]}")" \
    "$(bench_ratio "${MED_RPS[$a]}" "${MED_RPS[$b]}")"
}

# bench_per_round NAME...: the raw per-round numbers, for the results file, so a reader can
# see how noisy the medians were.
bench_per_round() {
  local name
  echo "per round (req/s; p50 us; p99 us; cpu us/req):"
  for name in "$@"; do
    printf '  %-10s %s; %s; %s; %s\n' "$name" "${RES_RPS[$name]% }" "${RES_P50[$name]% }" \
      "${RES_P99[$name]% }" "${RES_CPU[$name]% }"
  done
}

# Validate the common knobs and give them their defaults.
bench_knobs() {
  CONNECTIONS=${CONNECTIONS:-50}
  DURATION=${DURATION:-10}
  ROUNDS=${ROUNDS:-3}
  WARMUP=${WARMUP:-2}
  WRK_THREADS=${WRK_THREADS:-1}
  bench_require_uint CONNECTIONS "$CONNECTIONS" 1
  bench_require_uint DURATION "$DURATION" 1
  bench_require_uint ROUNDS "$ROUNDS" 1
  bench_require_uint WARMUP "$WARMUP" 0
  bench_require_uint WRK_THREADS "$WRK_THREADS" 1
  OTHER_LOAD_MAX=${OTHER_LOAD_MAX:-10}
  BUSY_RETRIES=${BUSY_RETRIES:-2}
  bench_require_uint OTHER_LOAD_MAX "$OTHER_LOAD_MAX" 0
  bench_require_uint BUSY_RETRIES "$BUSY_RETRIES" 0
  ((CONNECTIONS >= WRK_THREADS)) || bench_die "CONNECTIONS must be >= WRK_THREADS"
  # Connection limits for the servers: a proxy holds a client and an upstream socket per
  # connection, plus headroom. Derived, not fixed, so large CONNECTIONS still work; kept
  # small otherwise because HAProxy refuses to start if maxconn needs more FDs than the
  # hard ulimit allows.
  BENCH_MAXCONN=$((2 * CONNECTIONS + 1024))
}
