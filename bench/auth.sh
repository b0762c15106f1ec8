#!/usr/bin/env bash
# Cost of authentication (issue #5): the same route on four gatehouse instances (1 worker
# each, same nginx upstream), measured in alternating rounds:
#   no-auth     no plugin
#   key-auth    key-auth, the key in an `apikey` header
#   jwt-hs256   jwt-auth, an HS256 token of a consumer credential found by iss
#   jwt-rs256   jwt-auth, an RS256 token (2048-bit key) of a consumer credential found by kid
# Prints the table and the added CPU per request of each against no-auth.
#
# Usage: bench/auth.sh
# Env:   CONNECTIONS (50)  DURATION seconds (10)  ROUNDS (3)  WARMUP seconds (2)
#        GATEHOUSE_BIN (build-bench/gatehouse, built if missing)  KEEP_TMP=1  BENCH_SKIP_DEPS=1
set -euo pipefail

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

bench_knobs
bench_init
bench_ensure_deps
bench_resolve_gatehouse
make -C "$(dirname "$GATEHOUSE_BIN")" -j2 plugin-key-auth plugin-jwt-auth >/dev/null ||
  bench_die "building the plugins failed"
bench_start_upstream

# Keys, tokens and configurations: python3 for JSON and HMAC, openssl for RSA.
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$BENCH_TMP/rsa.pem" 2>/dev/null
openssl pkey -in "$BENCH_TMP/rsa.pem" -pubout -out "$BENCH_TMP/rsa.pub"
python3 - "$BENCH_TMP" "$UPSTREAM_PORT" <<'PY'
import base64, hashlib, hmac, json, subprocess, sys, time
tmp, port = sys.argv[1], sys.argv[2]
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
secret = "bench-secret-bench-secret-bench-secret!"
claims = b64(json.dumps({"iss": "bench-issuer", "sub": "bench", "exp": int(time.time()) + 86400}).encode())
def doc(plugins, credentials):
    return {"upstreams": [{"name": "bench-upstream", "targets": [{"address": "127.0.0.1:" + port}]}],
            "routes": [{"name": "all", "match": {"paths": ["/"]}, "upstream": "bench-upstream"}],
            "plugins": plugins,
            "consumers": [{"username": "bench", "roles": ["bench"], "credentials": credentials}] if credentials else []}
docs = {
    "no-auth": doc([], []),
    "key-auth": doc([{"name": "key-auth"}], [{"type": "key-auth", "key": "bench-key-0123456789abcdef"}]),
    "jwt-hs256": doc([{"name": "jwt-auth"}], [{"type": "jwt", "issuer": "bench-issuer", "algorithm": "HS256", "secret": secret}]),
    "jwt-rs256": doc([{"name": "jwt-auth"}], [{"type": "jwt", "kid": "bench-rsa", "algorithm": "RS256",
                                               "public_key": open(tmp + "/rsa.pub").read()}]),
}
for name, d in docs.items():
    json.dump(d, open(f"{tmp}/{name}.json", "w"))
hs_input = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode()) + "." + claims
hs = hs_input + "." + b64(hmac.new(secret.encode(), hs_input.encode(), hashlib.sha256).digest())
rs_input = b64(json.dumps({"alg": "RS256", "kid": "bench-rsa"}).encode()) + "." + claims
sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", tmp + "/rsa.pem"], input=rs_input.encode(),
                     capture_output=True, check=True).stdout
open(tmp + "/hs256.token", "w").write(hs)
open(tmp + "/rs256.token", "w").write(rs_input + "." + b64(sig))
PY

GH_PLUGIN_DIR="$(dirname "$GATEHOUSE_BIN")/plugins"
BENCH_HEADER_OF[key-auth]="apikey: bench-key-0123456789abcdef"
BENCH_HEADER_OF[jwt-hs256]="Authorization: Bearer $(cat "$BENCH_TMP/hs256.token")"
BENCH_HEADER_OF[jwt-rs256]="Authorization: Bearer $(cat "$BENCH_TMP/rs256.token")"
names=(no-auth key-auth jwt-hs256 jwt-rs256)
for name in "${names[@]}"; do
  bench_start_gatehouse "$name" "$BENCH_TMP/$name.json"
  BENCH_PID_OF[$name]=$GH_PID
  BENCH_URL_OF[$name]="http://127.0.0.1:$GH_PORT/"
  bench_check_body "$name" "${BENCH_URL_OF[$name]}"  # with its credentials: must be a 200
done

bench_rounds "${names[@]}"
{
  echo
  bench_environment
  bench_table auth "${names[@]}"
  base=$(bench_median ${RES_CPU[no-auth]})
  for name in key-auth jwt-hs256 jwt-rs256; do
    awk -v n="$name" -v a="$base" -v b="$(bench_median ${RES_CPU[$name]})" \
      'BEGIN { printf "added CPU per request by %s: %.2f us\n", n, b - a }'
  done
  for w in "${BENCH_WARNINGS[@]}"; do printf 'WARNING: %s\n' "$w"; done
} | tee "$BENCH_REPO/bench/results/auth-$(date +%Y%m%d-%H%M%S).txt"
