#!/usr/bin/env bash
# Builds the .deb and .rpm packages (gatehouse, gatehouse-plugin-sdk) with Debian's hardening
# flags and lints them: lintian must report no errors (warnings are justified in
# packaging/README.md), rpmlint no errors. Packages land in $BUILD_DIR/packages.
#   scripts/package.sh            build + lint
#   BUILD_DIR=build-pkg scripts/package.sh
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh --package
build_dir=${BUILD_DIR:-build-pkg}
jobs=${JOBS:-2}

# dpkg-buildflags: -O2, -fstack-protector-strong, -D_FORTIFY_SOURCE=2, format checks, RELRO;
# plus BIND_NOW. Tests are not part of a package build.
export DEB_BUILD_MAINT_OPTIONS=hardening=+all
cflags="$(dpkg-buildflags --get CFLAGS) $(dpkg-buildflags --get CPPFLAGS)"
cxxflags="$(dpkg-buildflags --get CXXFLAGS) $(dpkg-buildflags --get CPPFLAGS)"
ldflags="$(dpkg-buildflags --get LDFLAGS)"
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr \
  -DGATEHOUSE_BUILD_TESTS=OFF -DCMAKE_C_FLAGS="$cflags" -DCMAKE_CXX_FLAGS="$cxxflags" \
  -DCMAKE_EXE_LINKER_FLAGS="$ldflags" -DCMAKE_SHARED_LINKER_FLAGS="$ldflags" \
  -DCMAKE_MODULE_LINKER_FLAGS="$ldflags" >/dev/null
cmake --build "$build_dir" -j "$jobs"

rm -rf "$build_dir/packages"
(cd "$build_dir" && cpack -G DEB >/dev/null && cpack -G RPM >/dev/null)
ls -l "$build_dir"/packages/*.deb "$build_dir"/packages/*.rpm

echo "=== lintian ==="
# --fail-on error: warnings are reported (and justified in packaging/README.md), errors fail.
lintian --fail-on error --tag-display-limit 0 --suppress-tags-from-file packaging/lintian-suppressed \
  "$build_dir"/packages/*.deb
echo "lintian: no errors"

echo "=== rpmlint ==="
rpmlint -r packaging/rpmlintrc "$build_dir"/packages/*.rpm
