#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine: installs the Debian and
# PyPI packages it needs when missing, builds with warnings as errors, runs every
# test tier that exists. Exit status is non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages: FUSE, libcurl, OpenSSL headers (the C libraries we link).
debs=(fuse3 libfuse3-dev libcurl4-openssl-dev libssl-dev zlib1g-dev pkg-config ca-certificates s3fs rclone)
missing=()
for p in "${debs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
    echo "== installing Debian packages: ${missing[*]}"
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# PyPI packages: the official OSS SDKs and pytest (conformance tiers).
if ! python3 -c "import oss2, alibabacloud_oss_v2, pytest" >/dev/null 2>&1; then
    echo "== installing Python packages: oss2 alibabacloud-oss-v2 pytest"
    python3 -m pip install -q oss2 alibabacloud-oss-v2 pytest
fi

echo "== build (warnings are errors)"
swift build --build-tests -Xswiftc -warnings-as-errors

echo "== unit and integration tests (swift-testing)"
swift test --skip-build --disable-xctest -Xswiftc -warnings-as-errors

echo "== osslocal conformance (official Python SDKs) and real FUSE mounts (pytest)"
python3 -m pytest -q -p no:cacheprovider Tests/conformance Tests/mount
