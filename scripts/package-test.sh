#!/usr/bin/env bash
# Installs the packages scripts/package.sh built and checks them as a user would meet them
# (run as root, on a machine where it may install and purge them):
#   - the .deb installs with its dependencies, creates the gatehouse user and its 0750 state
#     directory, marks gatehouse.conf as a conffile;
#   - the unit's ExecStartPre and ExecStart, run as the gatehouse user with the packaged
#     configuration (systemd is not running here), start a gateway whose first start says how
#     to get an admin token and does not print one;
#   - the admin API, a proxied route and a first-party plugin (key-auth) work;
#   - the SDK's example plugin builds against the installed SDK package and loads into the
#     installed gateway;
#   - an upgrade keeps an edited gatehouse.conf and the store;
#   - dpkg --purge leaves no file, user or state behind;
#   - the .rpm's file list, config files, scripts and requirements are what they should be.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${BUILD_DIR:-build-pkg}
pkgs=$(cd "$build_dir/packages" && pwd)
deb=$(ls "$pkgs"/gatehouse_*.deb)
sdk_deb=$(ls "$pkgs"/gatehouse-plugin-sdk_*.deb)
work=$(mktemp -d)
gw_pid=""
up_pid=""
cleanup() {
  [[ -n "$gw_pid" ]] && kill "$gw_pid" 2>/dev/null || true
  [[ -n "$up_pid" ]] && kill "$up_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "package-test: FAIL: $*" >&2; exit 1; }
ok() { echo "package-test: ok: $*"; }

if dpkg-query -W gatehouse >/dev/null 2>&1; then
  dpkg --purge gatehouse gatehouse-plugin-sdk >/dev/null 2>&1 || true
fi
getent passwd gatehouse >/dev/null && fail "a gatehouse user exists before the install"

# --- install ----------------------------------------------------------------------------------
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$deb" "$sdk_deb" >"$work/apt.log" 2>&1 ||
  { cat "$work/apt.log"; fail "apt-get install"; }
getent passwd gatehouse >/dev/null || fail "no gatehouse user"
[[ "$(getent passwd gatehouse | cut -d: -f7)" == /usr/sbin/nologin ]] || fail "gatehouse has a login shell"
[[ "$(stat -c '%U:%G %a' /var/lib/gatehouse)" == "gatehouse:gatehouse 750" ]] ||
  fail "/var/lib/gatehouse is $(stat -c '%U:%G %a' /var/lib/gatehouse)"
dpkg-query -W -f='${Conffiles}\n' gatehouse | grep -q ' /etc/gatehouse/gatehouse.conf ' ||
  fail "gatehouse.conf is not a conffile"
for f in /usr/bin/gatehouse /usr/lib/gatehouse/plugins/key-auth.so /usr/lib/gatehouse/plugins/acl.so \
  /lib/systemd/system/gatehouse.service /usr/share/gatehouse/admin-ui/README.md \
  /usr/share/doc/gatehouse/copyright /usr/share/man/man1/gatehouse.1.gz \
  /usr/include/gatehouse/plugin.h /usr/share/pkgconfig/gatehouse-plugin-sdk.pc \
  /usr/lib/cmake/GatehousePluginSDK/GatehousePluginSDKConfig.cmake; do
  [[ -e "$f" ]] || fail "$f missing"
done
[[ -L /etc/systemd/system/multi-user.target.wants/gatehouse.service ]] || fail "the unit is not enabled"
systemd-analyze verify /lib/systemd/system/gatehouse.service 2>"$work/verify.log" ||
  { cat "$work/verify.log"; fail "systemd-analyze verify"; }
ok "installed: user, 0750 state directory, conffile, files, enabled unit that verifies"

# --- run the unit's commands as its user ------------------------------------------------------
unit=/lib/systemd/system/gatehouse.service
exec_pre=$(sed -n 's/^ExecStartPre=//p' "$unit")
exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
as_gatehouse() { setpriv --reuid=gatehouse --regid=gatehouse --init-groups -- "$@"; }
# shellcheck disable=SC2086
as_gatehouse $exec_pre >"$work/validate.log" 2>&1 || { cat "$work/validate.log"; fail "ExecStartPre"; }
ok "ExecStartPre: $(cat "$work/validate.log")"
# shellcheck disable=SC2086
(cd / && exec setpriv --reuid=gatehouse --regid=gatehouse --init-groups -- $exec_start >"$work/gatehouse.log" 2>&1) &
gw_pid=$!
admin_up() { [[ $(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:8001/status) == 401 ]]; }
for _ in $(seq 100); do
  admin_up && break
  sleep 0.1
done
admin_up || { cat "$work/gatehouse.log"; fail "admin API not answering (401 without a token)"; }
grep -q 'gatehouse admin-token' "$work/gatehouse.log" || { cat "$work/gatehouse.log"; fail "no admin-token hint"; }
grep -q 'gha_' "$work/gatehouse.log" && fail "the first start printed a token"
[[ "$(stat -c '%U %a' /var/lib/gatehouse/gatehouse.db)" == "gatehouse 600" ]] ||
  fail "store is $(stat -c '%U %a' /var/lib/gatehouse/gatehouse.db)"
token=$(as_gatehouse /usr/bin/gatehouse admin-token)
[[ "$token" == gha_* ]] || fail "admin-token printed '$token'"
ok "ExecStart as gatehouse: ready, first start names \`gatehouse admin-token\`, store 0600"

# --- admin API, a proxied route, key-auth ----------------------------------------------------
mkdir -p "$work/site" && echo "hello from upstream" >"$work/site/hello.txt"
python3 -m http.server 18090 --bind 127.0.0.1 --directory "$work/site" >/dev/null 2>&1 &
up_pid=$!
api() { curl -s -o "$work/body" -w '%{http_code}' -H "Authorization: Bearer $token" \
  -H 'Content-Type: application/json' -X "$1" "http://127.0.0.1:8001$2" ${3:+-d "$3"}; }
[[ $(api GET /status) == 200 ]] || fail "admin /status"
[[ $(api POST /upstreams '{"name":"site","targets":[{"address":"127.0.0.1:18090"}]}') == 201 ]] ||
  fail "POST /upstreams: $(cat "$work/body")"
[[ $(api POST /routes '{"name":"site","match":{"paths":["/site"]},"upstream":"site","strip_prefix":true}') == 201 ]] ||
  fail "POST /routes: $(cat "$work/body")"
for _ in $(seq 50); do
  curl -fs http://127.0.0.1:18090/hello.txt >/dev/null 2>&1 && break
  sleep 0.1
done
[[ "$(curl -s http://127.0.0.1:8000/site/hello.txt)" == "hello from upstream" ]] || fail "proxied route"
ok "admin API and a proxied route"
[[ $(api POST /plugins '{"name":"key-auth","route":"site"}') == 201 ]] || fail "key-auth: $(cat "$work/body")"
[[ $(api POST /consumers '{"username":"ci"}') == 201 ]] || fail "POST /consumers"
[[ $(api POST /consumers/ci/credentials '{"type":"key-auth","key":"ci-key-0123456789abcdef"}') == 201 ]] ||
  fail "POST credentials"
[[ $(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:8000/site/hello.txt) == 401 ]] ||
  fail "no key should be 401"
[[ $(curl -s -o /dev/null -w '%{http_code}' -H 'apikey: ci-key-0123456789abcdef' \
  http://127.0.0.1:8000/site/hello.txt) == 200 ]] || fail "the key should pass"
ok "first-party plugin key-auth: 401 without a key, 200 with it"

# --- the SDK's example, built against the installed SDK, loaded by the installed gateway ------
cp -r /usr/share/doc/gatehouse-plugin-sdk/examples/add-header "$work/add-header"
cmake -S "$work/add-header" -B "$work/add-header/build" >/dev/null
cmake --build "$work/add-header/build" >/dev/null
ctest --test-dir "$work/add-header/build" --output-on-failure >/dev/null || fail "example's own test"
install -m 0644 "$work/add-header/build/add-header.so" /usr/lib/gatehouse/plugins/
kill -HUP "$gw_pid"
for _ in $(seq 50); do
  [[ $(api POST /plugins '{"name":"add-header","route":"site","config":{"name":"X-Example","value":"sdk","to":"response"}}') == 201 ]] && break
  sleep 0.1
done
grep -q '"add-header"' "$work/body" || fail "add-header not configurable: $(cat "$work/body")"
curl -s -D "$work/headers" -o /dev/null -H 'apikey: ci-key-0123456789abcdef' http://127.0.0.1:8000/site/hello.txt
grep -qi '^X-Example: sdk' "$work/headers" || { cat "$work/headers"; fail "example plugin header"; }
ok "SDK example built against the installed SDK package and loaded (X-Example: sdk)"

# --- upgrade (reinstall over itself): an edited conffile and the store are kept ---------------
echo "# edited by package-test" >>/etc/gatehouse/gatehouse.conf
DEBIAN_FRONTEND=noninteractive dpkg -i --force-confold "$deb" >"$work/upgrade.log" 2>&1 ||
  { cat "$work/upgrade.log"; fail "reinstall"; }
grep -q '^# edited by package-test' /etc/gatehouse/gatehouse.conf || fail "the upgrade replaced an edited conffile"
as_gatehouse /usr/bin/gatehouse config export >"$work/export.json" || fail "config export as gatehouse"
grep -q '"site"' "$work/export.json" || fail "the upgrade lost the stored configuration"
ok "upgrade: edited gatehouse.conf and the store kept"

# --- stop, purge --------------------------------------------------------------------------------
kill -TERM "$gw_pid"
wait "$gw_pid" || fail "gateway exit status $?"
gw_pid=""
rm /usr/lib/gatehouse/plugins/add-header.so  # the administrator's own file, not the package's
dpkg -L gatehouse gatehouse-plugin-sdk >"$work/files"
dpkg --purge gatehouse gatehouse-plugin-sdk >"$work/purge.log" 2>&1 || { cat "$work/purge.log"; fail "purge"; }
left=""
while read -r f; do  # every file the packages had (shared directories like /usr stay)
  if [[ -e "$f" && ! -d "$f" ]]; then left+=" $f"; fi
done <"$work/files"
for d in /etc/gatehouse /var/lib/gatehouse /usr/lib/gatehouse /usr/share/gatehouse \
  /usr/share/doc/gatehouse /usr/share/doc/gatehouse-plugin-sdk /usr/include/gatehouse \
  /usr/lib/cmake/GatehousePluginSDK /usr/share/gatehouse-plugin-sdk; do
  [[ -e "$d" ]] && left+=" $d"
done
[[ -e /etc/systemd/system/multi-user.target.wants/gatehouse.service || -e /etc/systemd/system/gatehouse.service ]] &&
  left+=" systemd-links"
[[ -z "$left" ]] || fail "purge left:$left"
getent passwd gatehouse >/dev/null && fail "purge left the user"
getent group gatehouse >/dev/null && fail "purge left the group"
ok "purge: no files, user, group or state left"

# --- the .rpm, inspected (no rpm database to install into on Debian) --------------------------
rpm_file=$(ls "$pkgs"/gatehouse-0*.rpm)
rpm -qpl "$rpm_file" >"$work/rpm-files"
for f in /usr/bin/gatehouse /usr/lib/gatehouse/plugins/key-auth.so /etc/gatehouse/gatehouse.conf \
  /lib/systemd/system/gatehouse.service /usr/share/gatehouse/admin-ui/README.md; do
  grep -qx "$f" "$work/rpm-files" || fail "rpm lacks $f"
done
[[ "$(rpm -qp --configfiles "$rpm_file")" == /etc/gatehouse/gatehouse.conf ]] || fail "rpm config files"
rpm -qp --qf '[%{FILEFLAGS:fflags} %{FILENAMES}\n]' "$rpm_file" | grep -q '^cn /etc/gatehouse/gatehouse.conf' ||
  fail "gatehouse.conf is not %config(noreplace)"
rpm -qp --scripts "$rpm_file" >"$work/rpm-scripts"
grep -q 'useradd -r -g gatehouse' "$work/rpm-scripts" || fail "rpm %pre makes no user"
grep -q 'disable --now gatehouse.service' "$work/rpm-scripts" || fail "rpm %preun"
rpm -qpR "$rpm_file" >"$work/rpm-requires"
grep -q 'libPoco' "$work/rpm-requires" || fail "rpm requirements lack the POCO libraries"
grep -q 'libcrypto' "$work/rpm-requires" || fail "rpm requirements lack OpenSSL"
[[ "$(rpm -qp --qf '%{ARCH}' "$pkgs"/gatehouse-plugin-sdk-*.rpm)" == noarch ]] || fail "sdk rpm not noarch"
ok "rpm: files, %config(noreplace), scripts, automatic requirements ($(wc -l <"$work/rpm-requires") lines)"
echo "package-test: all checks passed"
