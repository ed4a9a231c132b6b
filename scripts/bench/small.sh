#!/usr/bin/env bash
# Small files: 4,000 x 100 KiB read whole through a fresh mount by 8 threads
# (Python), page cache dropped before each run. Prints files/s and the daemon's
# CPU per file (medians, min, max): the per-request cost of the read path.
#   scripts/bench/small.sh [--tls] [RUNS]   (default 5; OSSMOUNT_BENCH_OPTIONS adds -o options)
set -euo pipefail
cd "$(dirname "$0")/../.."
tls=""; [ "${1:-}" = "--tls" ] && { tls=1; shift; }
runs=${1:-5}
. scripts/bench/lib.sh

python3 - "$endpoint" <<'PY'
import sys, os, oss2, concurrent.futures as cf
b = oss2.Bucket(oss2.AuthV4("bench-key", "bench-secret"), sys.argv[1], "bench", region="cn-hangzhou", is_path_style=True)
data = os.urandom(100 << 10)
with cf.ThreadPoolExecutor(8) as ex:
    list(ex.map(lambda i: b.put_object(f"small/{i:05d}", data), range(4000)))
PY
cat > "$work/read_all.py" <<'PY'
import os, sys, time, concurrent.futures as cf
d = sys.argv[1]
names = sorted(os.listdir(d))
def read(n):
    with open(os.path.join(d, n), "rb") as f:
        return len(f.read())
start = time.monotonic()
with cf.ThreadPoolExecutor(8) as ex:
    total = sum(ex.map(read, names))
assert total == len(names) * (100 << 10), total
print(len(names) / (time.monotonic() - start))
PY

rates=() per_file=()
for _ in $(seq "$runs"); do
    mount_bench ro
    drop
    d0=$(cpu "$daemon")
    rates+=("$(python3 "$work/read_all.py" "$mnt/small")")
    per_file+=("$(echo "($(cpu "$daemon") - $d0) * 1000000 / 4000" | bc -l)")
    fusermount3 -u "$mnt"
done
echo "4,000 x 100 KiB read by 8 threads over $transport, fresh mount, page cache dropped, $runs runs, median (min, max)"
echo "  files/s:               $(printf '%s\n' "${rates[@]}" | median)"
echo "  daemon CPU us per file: $(printf '%s\n' "${per_file[@]}" | median)"
