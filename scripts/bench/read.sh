#!/usr/bin/env bash
# Sequential read of a 1 GiB object through an ossmount mount, beside a raw curl
# GET (presigned, same osslocal, tmpfs-backed) as the same-machine ceiling.
# Page cache dropped before every run. Prints medians (min, max) and the ratio.
# CPU seconds per GiB of the mount daemon and of osslocal are reported too.
#   scripts/bench/read.sh [--tls] [RUNS]   (default 5; OSSMOUNT_BENCH_OPTIONS adds -o options)
#   --tls: both over HTTPS (osslocal's own CA), the ceiling being curl over TLS
set -euo pipefail
cd "$(dirname "$0")/../.."
tls=""; [ "${1:-}" = "--tls" ] && { tls=1; shift; }
runs=${1:-5}
. scripts/bench/lib.sh

python3 - "$endpoint" <<'PY'
import sys, os, oss2
b = oss2.Bucket(oss2.AuthV4("bench-key", "bench-secret"), sys.argv[1], "bench", region="cn-hangzhou", is_path_style=True)
block = os.urandom(1 << 20)
uid = b.init_multipart_upload("gib.bin").upload_id
parts = [oss2.models.PartInfo(i + 1, b.upload_part("gib.bin", uid, i + 1, block * 64).etag) for i in range(16)]
b.complete_multipart_upload("gib.bin", uid, parts)
PY
url=$(presign GET gib.bin)

curl_rates=() curl_server_cpu=() curl_cpu=()
for _ in $(seq "$runs"); do
    drop
    s0=$(cpu "$osspid")
    mark_cpu c0
    curl_rates+=("$(curl -sf "${curl_tls[@]}" -o /dev/null -w '%{speed_download}' "$url" | awk '{print $1/1048576}')")
    mark_cpu c1
    curl_cpu+=("$(echo "$c1 - $c0" | bc -l)")
    curl_server_cpu+=("$(echo "$(cpu "$osspid") - $s0" | bc -l)")
done
mount_rates=() daemon_cpu=() server_cpu=()
for _ in $(seq "$runs"); do
    mount_bench ro
    drop
    d0=$(cpu "$daemon") s0=$(cpu "$osspid")
    start=$(date +%s.%N)
    dd if="$mnt/gib.bin" of=/dev/null bs=1M status=none
    end=$(date +%s.%N)
    daemon_cpu+=("$(echo "$(cpu "$daemon") - $d0" | bc -l)")
    server_cpu+=("$(echo "$(cpu "$osspid") - $s0" | bc -l)")
    mount_rates+=("$(echo "1024 / ($end - $start)" | bc -l)")
    fusermount3 -u "$mnt"
done

echo "1 GiB sequential read over $transport, loopback osslocal on tmpfs, $runs runs, MiB/s median (min, max)"
echo "  raw curl GET (ceiling):   $(printf '%s\n' "${curl_rates[@]}" | median)"
echo "  ossmount (dd bs=1M):      $(printf '%s\n' "${mount_rates[@]}" | median)"
printf '  CPU-s/GiB: ossmount daemon %.2f, curl alone %.2f, osslocal %.2f (under curl: %.2f)\n' \
    "$(printf '%s\n' "${daemon_cpu[@]}" | mid)" "$(printf '%s\n' "${curl_cpu[@]}" | mid)" "$(printf '%s\n' "${server_cpu[@]}" | mid)" \
    "$(printf '%s\n' "${curl_server_cpu[@]}" | mid)"
printf '  ratio ossmount / curl:   %.2f\n' \
    "$(echo "$(printf '%s\n' "${mount_rates[@]}" | mid) / $(printf '%s\n' "${curl_rates[@]}" | mid)" | bc -l)"
