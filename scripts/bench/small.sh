#!/usr/bin/env bash
# Small files: 4,000 x 100 KiB read whole through a fresh mount by 8 threads
# (Python), page cache dropped before each run; then 4,000 new ones written (each
# closed, so stored) by 8 threads. Prints files/s and the daemon's CPU per file
# (medians, min, max): the per-request cost of the read and write paths.
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
cat > "$work/write_all.py" <<'PY'
import os, sys, time, concurrent.futures as cf
d = sys.argv[1]
os.mkdir(d)
data = os.urandom(100 << 10)
def write(i):
    with open(os.path.join(d, f"{i:05d}"), "wb") as f:
        f.write(data)
start = time.monotonic()
with cf.ThreadPoolExecutor(8) as ex:
    list(ex.map(write, range(4000)))
print(4000 / (time.monotonic() - start))
PY

rates=() per_file=() write_rates=() write_per_file=()
for run in $(seq "$runs"); do
    mount_bench
    drop
    d0=$(cpu "$daemon")
    rates+=("$(python3 "$work/read_all.py" "$mnt/small")")
    per_file+=("$(echo "($(cpu "$daemon") - $d0) * 1000000 / 4000" | bc -l)")
    d0=$(cpu "$daemon")
    write_rates+=("$(python3 "$work/write_all.py" "$mnt/written-$run")")
    write_per_file+=("$(echo "($(cpu "$daemon") - $d0) * 1000000 / 4000" | bc -l)")
    fusermount3 -u "$mnt"
done
echo "4,000 x 100 KiB by 8 threads over $transport, fresh mount, page cache dropped, $runs runs, median (min, max)"
echo "  read files/s:                $(printf '%s\n' "${rates[@]}" | median)"
echo "  read daemon CPU us per file:  $(printf '%s\n' "${per_file[@]}" | median)"
echo "  write files/s:               $(printf '%s\n' "${write_rates[@]}" | median)"
echo "  write daemon CPU us per file: $(printf '%s\n' "${write_per_file[@]}" | median)"
