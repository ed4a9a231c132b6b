#!/usr/bin/env bash
# Peak RSS of the daemon against total_mem_limit: 8 writers (dd of SIZE each) and
# 8 readers (dd of 8 objects of SIZE) at once through one mount, for each limit,
# on a fresh mount each run. The bound: peak RSS <= total_mem_limit + 64 MiB.
# Prints one row per limit (median, min, max of RUNS) and writes
# bench-results/DATE-memory.md.
# Usage: scripts/bench/memory.sh [RUNS] [SIZE_MIB]   (default 3, 256)
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-3}
size=${2:-256}
. scripts/bench/lib.sh

# The readers' objects, written once over plain HTTP.
for i in $(seq 0 7); do
    head -c $((size << 20)) /dev/urandom > "$work/src.bin"
    curl -sf -X PUT -T "$work/src.bin" "$(presign PUT "r$i.bin")" >/dev/null
done
rm -f "$work/src.bin"

rows=()
for limit in 256 1024; do
    peaks=()
    for _ in $(seq "$runs"); do
        mount_bench "total_mem_limit=${limit}M"
        pids=()
        for i in $(seq 0 7); do
            dd if=/dev/urandom of="$mnt/w$i.bin" bs=1M count="$size" status=none & pids+=($!)
            dd if="$mnt/r$i.bin" of=/dev/null bs=1M status=none & pids+=($!)
        done
        for p in "${pids[@]}"; do wait "$p"; done
        peak=$(awk '/^VmHWM:/ {print int($2 / 1024)}' "/proc/$daemon/status")
        peaks+=("$peak")
        rm -f "$mnt"/w*.bin
        fusermount3 -u "$mnt"
        while kill -0 "$daemon" 2>/dev/null; do sleep 0.1; done
    done
    bound=$((limit + 64))
    med=$(printf '%s\n' "${peaks[@]}" | mid)
    verdict=$([ "$(printf '%s\n' "${peaks[@]}" | sort -g | tail -1)" -le "$bound" ] && echo "holds" || echo "EXCEEDED")
    row="| ${limit}M | $(printf '%s\n' "${peaks[@]}" | median) | $bound | $verdict |"
    echo "$row"
    rows+=("$row")
done

mkdir -p bench-results
out="bench-results/$(date -u +%F)-memory.md"
{
    echo "# Peak RSS against total_mem_limit ($(date -u +%F), $transport, $runs runs each)"
    echo
    echo "8 writers (dd, ${size} MiB each) and 8 readers (${size} MiB objects) at once through one mount;"
    echo "the daemon's VmHWM after the run, in MiB. Bound: total_mem_limit + 64 MiB, every run."
    echo
    echo "| total_mem_limit | peak RSS MiB, median (min, max) | bound | |"
    echo "|---|---|---|---|"
    printf '%s\n' "${rows[@]}"
} > "$out"
echo "$out"
