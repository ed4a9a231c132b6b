#!/usr/bin/env bash
# Packages ossmount for machines without a Swift toolchain: release binaries with
# the Swift runtime linked in (they need only glibc, libfuse3, libcurl, OpenSSL and
# zlib), as dist/ossmount_VERSION_ARCH.deb and dist/ossmount-VERSION-linux-ARCH.tar.gz:
#   /usr/bin/ossmount, /usr/bin/osslocal      (mount -t fuse.ossmount and fstab find
#                                              /usr/bin with the PATH mount(8), systemd
#                                              and cron give)
#   /usr/share/man/man8/ossmount.8.gz         (generated from docs/CONFIGURATION.md)
#   /usr/share/bash-completion/completions/ossmount
#   /lib/systemd/system/ossmount@.service
#   /usr/share/doc/ossmount/                  (README, docs, example configs)
#   scripts/package.sh [--bin DIR]   --bin packages binaries already built there (tests)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/deps.sh
install_deps

bin=""
[ "${1:-}" = "--bin" ] && bin=$2
version=$(sed -n 's/.*static let version = "\(.*\)".*/\1/p' Sources/BuildInfo/BuildInfo.swift)
version=${version:-0.1.0}
arch=$(dpkg --print-architecture)
if [ -z "$bin" ]; then
    echo "== building release binaries (Swift runtime linked statically)"
    swift build -c release --static-swift-stdlib --product ossmount
    swift build -c release --static-swift-stdlib --product osslocal
    bin=$(swift build -c release --show-bin-path)
fi

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
root=$stage/ossmount_${version}_$arch
install -D -m 755 "$bin/ossmount" "$root/usr/bin/ossmount"
install -D -m 755 "$bin/osslocal" "$root/usr/bin/osslocal"
mkdir -p "$root/usr/share/man/man8"
python3 scripts/lib/manpage.py man "$root/usr/share/man/man8/ossmount.8"
gzip -9n "$root/usr/share/man/man8/ossmount.8"
install -D -m 644 Configs/completion/ossmount.bash "$root/usr/share/bash-completion/completions/ossmount"
sed -i "s|@OPTIONS@|$(python3 scripts/lib/manpage.py options)|" "$root/usr/share/bash-completion/completions/ossmount"
install -D -m 644 Configs/systemd/ossmount@.service "$root/lib/systemd/system/ossmount@.service"
sed -i "s|/usr/local/bin/ossmount|/usr/bin/ossmount|" "$root/lib/systemd/system/ossmount@.service"
doc=$root/usr/share/doc/ossmount
mkdir -p "$doc/examples"
cp README.md LICENSE docs/*.md "$doc/"
cp -r Configs/presets Configs/fstab.example Configs/ossfs2.conf.example "$doc/examples/"

mkdir -p "$root/DEBIAN"
cat > "$root/DEBIAN/control" <<CONTROL
Package: ossmount
Version: $version
Architecture: $arch
Maintainer: ossmount developers <ossmount@localhost>
Depends: fuse3, libfuse3-3, libcurl4, libssl3, zlib1g
Section: utils
Priority: optional
Homepage: https://github.com/ossmount/ossmount
Description: mount an Alibaba Cloud OSS bucket as a local directory (FUSE)
 ossmount serves an OSS bucket, or a prefix of it, through FUSE: datasets read
 and checkpoints written with ordinary file I/O. Takes ossfs 2.0, ossfs 1.x and
 JindoFuse options. Includes osslocal, a local OSS-compatible server.
CONTROL

mkdir -p dist
dpkg-deb --root-owner-group --build "$root" "dist/ossmount_${version}_$arch.deb" >/dev/null
tar -C "$root" --exclude=DEBIAN -czf "dist/ossmount-$version-linux-$arch.tar.gz" .
echo "dist/ossmount_${version}_$arch.deb"
echo "dist/ossmount-$version-linux-$arch.tar.gz"
