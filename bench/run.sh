#!/usr/bin/env bash
# Side-by-side benchmark: gatehouse vs nginx vs HAProxy as reverse proxies, one worker
# (process or thread) each, all in front of the SAME nginx upstream, measured with wrk in
# one run. Prints one table of medians over ROUNDS rounds plus ratio lines, and saves it to
# bench/results/<timestamp>.txt.
#
# Usage: bench/run.sh
# Env:   CONNECTIONS (50)  DURATION seconds (10)  ROUNDS (3)  WARMUP seconds (2)
#        WRK_THREADS (1)   GATEHOUSE_BIN (build-bench/gatehouse, built if missing)
#        OTHER_LOAD_MAX (10): % of a core other processes may use during a measured run
#        before it is retried, up to BUSY_RETRIES (2) times
#        KEEP_TMP=1 keeps the scratch dir (configs, logs, raw wrk output)
#        BENCH_SKIP_DEPS=1 skips scripts/install-deps.sh --bench
set -euo pipefail

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# gatehouse: one upstream with the one target, one catch-all prefix route.
start_gatehouse_proxy() {
  local json="$BENCH_TMP/gatehouse.json"
  cat >"$json" <<EOF
{"upstreams":[{"name":"bench-upstream","targets":[{"address":"127.0.0.1:$UPSTREAM_PORT","weight":100}]}],
 "routes":[{"name":"bench-all","match":{"paths":["/"]},"upstream":"bench-upstream"}]}
EOF
  bench_start_gatehouse gatehouse "$json"
  BENCH_PID_OF[gatehouse]=$GH_PID
  BENCH_URL_OF[gatehouse]="http://127.0.0.1:$GH_PORT/"
}

# nginx as the reverse proxy, configured the way nginx's docs recommend for upstream
# keep-alive (HTTP/1.1 + empty Connection header + an idle pool), so it is not handicapped
# by reconnecting to the upstream on every request.
start_nginx_proxy() {
  local dir="$BENCH_TMP/nginx-proxy" port
  mkdir -p "$dir"
  port=$(bench_free_port)
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
  upstream bench_upstream {
    server 127.0.0.1:$UPSTREAM_PORT;
    keepalive 64;
    keepalive_requests 10000000;
    keepalive_timeout 300s;
  }
  server {
    listen 127.0.0.1:$port;
    location / {
      proxy_pass http://bench_upstream;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
EOF
  bench_spawn nginx-proxy nginx -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf"
  bench_wait_port "$port" "$BENCH_PID" 10 "$BENCH_LOG"
  BENCH_PID_OF[nginx]=$BENCH_PID
  BENCH_URL_OF[nginx]="http://127.0.0.1:$port/"
}

# HAProxy in HTTP mode with one thread, keep-alive on both sides and aggressive upstream
# connection reuse; no log lines, so it does no more per-request work than the others.
start_haproxy_proxy() {
  local dir="$BENCH_TMP/haproxy" port
  mkdir -p "$dir"
  port=$(bench_free_port)
  cat >"$dir/haproxy.cfg" <<EOF
global
  nbthread 1
  maxconn $BENCH_MAXCONN

defaults
  mode http
  option http-keep-alive
  http-reuse always
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  timeout http-request 10s
  timeout http-keep-alive 300s

frontend bench
  bind 127.0.0.1:$port
  default_backend bench_upstream

backend bench_upstream
  server upstream1 127.0.0.1:$UPSTREAM_PORT
EOF
  haproxy -c -q -f "$dir/haproxy.cfg" >&2 || bench_die "haproxy rejected $dir/haproxy.cfg"
  # -db: stay in the foreground as a single process (no daemon, no master-worker).
  bench_spawn haproxy haproxy -db -f "$dir/haproxy.cfg"
  bench_wait_port "$port" "$BENCH_PID" 10 "$BENCH_LOG"
  BENCH_PID_OF[haproxy]=$BENCH_PID
  BENCH_URL_OF[haproxy]="http://127.0.0.1:$port/"
}

main() {
  bench_knobs
  bench_init
  bench_ensure_deps
  bench_resolve_gatehouse

  bench_start_upstream
  bench_log "upstream nginx on 127.0.0.1:$UPSTREAM_PORT (pid $UPSTREAM_PID)"
  start_gatehouse_proxy
  start_nginx_proxy
  start_haproxy_proxy

  local proxies=(gatehouse nginx haproxy) p
  for p in "${proxies[@]}"; do
    bench_check_body "$p" "${BENCH_URL_OF[$p]}"
    bench_log "$p on ${BENCH_URL_OF[$p]} (pid ${BENCH_PID_OF[$p]}) answers 200 '$BENCH_UPSTREAM_BODY'"
  done

  bench_rounds "${proxies[@]}"

  mkdir -p "$BENCH_RESULTS_DIR"
  local out
  out="$BENCH_RESULTS_DIR/$(date +%Y%m%d-%H%M%S).txt"
  local report
  report=$(
    bench_table proxy "${proxies[@]}"
    echo
    bench_ratio_line gatehouse/nginx gatehouse nginx
    bench_ratio_line gatehouse/haproxy gatehouse haproxy
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
    bench_per_round "${proxies[@]}"
  } >"$out"
  bench_log "results written to $out"
}

main "$@"
