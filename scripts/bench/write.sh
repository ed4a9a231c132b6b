#!/usr/bin/env bash
# Sequential write of 1 GiB through an ossmount mount, close included, beside a
# raw `curl -T` PUT (presigned) of the same bytes to the same osslocal (tmpfs).
# Prints medians (min, max) and the ratio.
# CPU seconds per GiB of the mount daemon and of osslocal are reported too.
# Both write one key over and over, so the server frees the last copy's memory and
# reuses it for the next: on this VM a page of tmpfs touched for the first time
# costs about 4x one reused, and a run that wrote new keys measured that instead.
#   scripts/bench/write.sh [--tls] [RUNS]   (default 5; OSSMOUNT_BENCH_OPTIONS adds -o options)
#   --tls: both over HTTPS (osslocal's own CA), the ceiling being curl -T over TLS
set -euo pipefail
cd "$(dirname "$0")/../.."
tls=""; [ "${1:-}" = "--tls" ] && { tls=1; shift; }
runs=${1:-5}
. scripts/bench/lib.sh

head -c 1073741824 /dev/urandom > "$work/src.bin"
url=$(presign PUT put.bin)

curl_rates=() curl_server_cpu=() curl_cpu=()
for _ in $(seq "$runs"); do
    s0=$(cpu "$osspid")
    mark_cpu c0
    curl_rates+=("$(curl -sf "${curl_tls[@]}" -T "$work/src.bin" -o /dev/null -w '%{speed_upload}' "$url" | awk '{print $1/1048576}')")
    mark_cpu c1
    curl_cpu+=("$(echo "$c1 - $c0" | bc -l)")
    curl_server_cpu+=("$(echo "$(cpu "$osspid") - $s0" | bc -l)")
done
mount_bench
mount_rates=() daemon_cpu=() server_cpu=()
for _ in $(seq "$runs"); do
    d0=$(cpu "$daemon") s0=$(cpu "$osspid")
    start=$(date +%s.%N)
    dd if="$work/src.bin" of="$mnt/w.bin" bs=1M status=none
    end=$(date +%s.%N)
    daemon_cpu+=("$(echo "$(cpu "$daemon") - $d0" | bc -l)")
    server_cpu+=("$(echo "$(cpu "$osspid") - $s0" | bc -l)")
    mount_rates+=("$(echo "1024 / ($end - $start)" | bc -l)")
done
cmp "$work/src.bin" "$mnt/w.bin"
fusermount3 -u "$mnt"

echo "1 GiB sequential write incl. close over $transport, loopback osslocal on tmpfs, $runs runs, MiB/s median (min, max)"
echo "  raw curl -T PUT (ceiling): $(printf '%s\n' "${curl_rates[@]}" | median)"
echo "  ossmount (dd bs=1M):       $(printf '%s\n' "${mount_rates[@]}" | median)"
printf '  CPU-s/GiB: ossmount daemon %.2f, curl alone %.2f, osslocal %.2f (under curl: %.2f)\n' \
    "$(printf '%s\n' "${daemon_cpu[@]}" | mid)" "$(printf '%s\n' "${curl_cpu[@]}" | mid)" "$(printf '%s\n' "${server_cpu[@]}" | mid)" \
    "$(printf '%s\n' "${curl_server_cpu[@]}" | mid)"
printf '  ratio ossmount / curl:    %.2f\n' \
    "$(echo "$(printf '%s\n' "${mount_rates[@]}" | mid) / $(printf '%s\n' "${curl_rates[@]}" | mid)" | bc -l)"
