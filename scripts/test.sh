#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine: installs the Debian and
# PyPI packages it needs when missing, builds with warnings as errors, runs every
# test tier that exists. Exit status is non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/deps.sh
install_deps

echo "== build (warnings are errors)"
swift build --build-tests -Xswiftc -warnings-as-errors

echo "== unit and integration tests (swift-testing)"
swift test --skip-build --disable-xctest -Xswiftc -warnings-as-errors

echo "== osslocal conformance (official Python SDKs) and real FUSE mounts (pytest)"
python3 -m pytest -q -p no:cacheprovider Tests/conformance Tests/mount

echo "== osslocal conformance again over HTTPS (osslocal's own CA)"
OSSLOCAL_TLS=1 python3 -m pytest -q -p no:cacheprovider Tests/conformance --deselect Tests/conformance/test_connector.py
