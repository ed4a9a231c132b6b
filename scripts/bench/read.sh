#!/usr/bin/env bash
# Sequential read of a 1 GiB object through an ossmount mount, beside a raw curl
# GET (presigned, same osslocal, tmpfs-backed) as the same-machine ceiling.
# Page cache dropped before every run. Prints medians (min, max) and the ratio.
#   scripts/bench/read.sh [RUNS]      (default 5)
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-5}
. scripts/lib/deps.sh
install_deps
swift build -c release --product ossmount >/dev/null
swift build -c release --product osslocal >/dev/null
bin=$(swift build -c release --show-bin-path)

work=$(mktemp -d /dev/shm/ossbench-read.XXXXXX)
mnt=$(mktemp -d /tmp/ossbench-mnt.XXXXXX)
osspid=""
cleanup() {
    mountpoint -q "$mnt" && fusermount3 -u "$mnt"
    [ -n "$osspid" ] && kill "$osspid" 2>/dev/null && wait "$osspid" 2>/dev/null
    rm -rf "$work"; rmdir "$mnt" 2>/dev/null || true
}
trap cleanup EXIT

export OSSLOCAL_ACCESS_KEY_SECRET=bench-secret
"$bin/osslocal" --root "$work/root" --bucket bench --access-key-id bench-key --listen 127.0.0.1:0 > "$work/osslocal.out" &
osspid=$!
for _ in $(seq 100); do grep -q listening "$work/osslocal.out" 2>/dev/null && break; sleep 0.1; done
endpoint=$(awk '/listening/ {print $NF}' "$work/osslocal.out")

url=$(python3 - "$endpoint" <<'PY'
import sys, os, oss2
b = oss2.Bucket(oss2.AuthV4("bench-key", "bench-secret"), sys.argv[1], "bench", region="cn-hangzhou", is_path_style=True)
block = os.urandom(1 << 20)
uid = b.init_multipart_upload("gib.bin").upload_id
parts = [oss2.models.PartInfo(i + 1, b.upload_part("gib.bin", uid, i + 1, block * 64).etag) for i in range(16)]
b.complete_multipart_upload("gib.bin", uid, parts)
print(b.sign_url("GET", "gib.bin", 3600))
PY
)

drop() { sync; echo 3 > /proc/sys/vm/drop_caches; }
median() { sort -g | awk '{a[NR]=$1} END {printf "%.0f (min %.0f, max %.0f)", a[int((NR+1)/2)], a[1], a[NR]}'; }

curl_rates=()
for _ in $(seq "$runs"); do
    drop
    curl_rates+=("$(curl -sf -o /dev/null -w '%{speed_download}' "$url" | awk '{print $1/1048576}')")
done

mount_rates=()
for _ in $(seq "$runs"); do
    OSS_ACCESS_KEY_ID=bench-key OSS_ACCESS_KEY_SECRET=bench-secret \
        "$bin/ossmount" bench "$mnt" -o "endpoint=$endpoint,region=cn-hangzhou,ro${OSSMOUNT_BENCH_OPTIONS:+,$OSSMOUNT_BENCH_OPTIONS}"
    drop
    start=$(date +%s.%N)
    dd if="$mnt/gib.bin" of=/dev/null bs=1M status=none
    end=$(date +%s.%N)
    mount_rates+=("$(echo "1024 / ($end - $start)" | bc -l)")
    fusermount3 -u "$mnt"
done

c=$(printf '%s\n' "${curl_rates[@]}" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
m=$(printf '%s\n' "${mount_rates[@]}" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
echo "1 GiB sequential read, loopback osslocal on tmpfs, $runs runs, MiB/s median (min, max)"
echo "  raw curl GET (ceiling):   $(printf '%s\n' "${curl_rates[@]}" | median)"
echo "  ossmount (dd bs=1M):      $(printf '%s\n' "${mount_rates[@]}" | median)"
printf '  ratio ossmount / curl:   %.2f\n' "$(echo "$m / $c" | bc -l)"
