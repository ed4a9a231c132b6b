#!/usr/bin/env bash
# Sequential write of 1 GiB through an ossmount mount, close included, beside a
# raw `curl -T` PUT (presigned) of the same bytes to the same osslocal (tmpfs).
# Prints medians (min, max) and the ratio.
#   scripts/bench/write.sh [RUNS]     (default 5; OSSMOUNT_BENCH_OPTIONS adds -o options)
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-5}
. scripts/bench/lib.sh

head -c 1073741824 /dev/urandom > "$work/src.bin"
url=$(presign PUT put.bin)

curl_rates=()
for _ in $(seq "$runs"); do
    curl_rates+=("$(curl -sf -T "$work/src.bin" -o /dev/null -w '%{speed_upload}' "$url" | awk '{print $1/1048576}')")
done
mount_bench
mount_rates=()
for i in $(seq "$runs"); do
    start=$(date +%s.%N)
    dd if="$work/src.bin" of="$mnt/w$i.bin" bs=1M status=none
    end=$(date +%s.%N)
    mount_rates+=("$(echo "1024 / ($end - $start)" | bc -l)")
done
cmp "$work/src.bin" "$mnt/w1.bin"
fusermount3 -u "$mnt"

echo "1 GiB sequential write incl. close, loopback osslocal on tmpfs, $runs runs, MiB/s median (min, max)"
echo "  raw curl -T PUT (ceiling): $(printf '%s\n' "${curl_rates[@]}" | median)"
echo "  ossmount (dd bs=1M):       $(printf '%s\n' "${mount_rates[@]}" | median)"
printf '  ratio ossmount / curl:    %.2f\n' \
    "$(echo "$(printf '%s\n' "${mount_rates[@]}" | mid) / $(printf '%s\n' "${curl_rates[@]}" | mid)" | bc -l)"
