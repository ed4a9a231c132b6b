#!/usr/bin/env bash
# Builds ossmount (release) and installs it as /usr/local/bin/ossmount, where
# mount(8) and /etc/fstab lines of type fuse.ossmount find it.
#   scripts/install.sh [PREFIX]      (default /usr/local)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/deps.sh
install_deps
prefix=${1:-/usr/local}
swift build -c release --product ossmount
install -D -m 755 "$(swift build -c release --show-bin-path)/ossmount" "$prefix/bin/ossmount"
echo "installed $prefix/bin/ossmount"
