"""cache_dir per file, without torch: FILES x 100 KiB on one osslocal (in memory,
signed, loopback), read whole in a shuffled order by 8 Python threads through a
mount with `cache_dir` (epoch 1: fetched from OSS and stored), then again after a
remount with the page cache dropped (served from the cache). Prints files/s and the
daemon's CPU microseconds per file of each, per run. Each run's cache directory is
removed at the end (see docs/BENCHMARKS.md on ext4 without a journal). Run as root.

    python3 scripts/bench/cache_epoch.py --bin .build/release [--runs 3] [--files 10000]
"""
import argparse
import concurrent.futures
import os
import random
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import train  # noqa: E402  (its Server and Mount)


def read_all(root, names, size, threads=8):
    order = names[:]
    random.shuffle(order)

    def one(chunk):
        for n in chunk:
            with open(os.path.join(root, n), "rb") as f:
                assert len(f.read()) == size, n
    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        list(pool.map(one, [order[i::threads] for i in range(threads)]))
    return time.monotonic() - started


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--bin", required=True)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--files", type=int, default=10_000)
    args = p.parse_args()
    ossmount = os.path.join(args.bin, "ossmount")
    base = tempfile.mkdtemp(prefix="ossbench-cache-", dir="/dev/shm")
    caches = []
    server = train.Server(os.path.join(args.bin, "osslocal"), base)
    try:
        import oss2
        bucket = oss2.Bucket(oss2.Auth(train.KEY_ID, train.SECRET), server.endpoint, train.BUCKET)
        data = os.urandom(train.SAMPLE_SIZE)
        names = [f"train/s{i:06d}" for i in range(args.files)]
        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            list(pool.map(lambda n: bucket.put_object(n, data), names))
        for run in range(args.runs):
            cache = tempfile.mkdtemp(prefix="ossbench-cache-", dir="/var/tmp")
            caches.append(cache)
            row = []
            for phase in ("epoch 1", "after remount"):
                if phase != "epoch 1":
                    train.drop_caches()
                m = train.Mount(ossmount, server, base, f"cache_dir={cache},cache_size=4G")
                try:
                    os.listdir(os.path.join(m.mnt, "train"))
                    c0 = train.cpu_seconds(m.pid)
                    seconds = read_all(m.mnt, names, len(data))
                    cpu = train.cpu_seconds(m.pid) - c0
                    # Blocks are written after they are served: let the last ones land.
                    deadline = time.monotonic() + 60
                    while time.monotonic() < deadline and train.blocks_bytes(cache) < args.files * len(data):
                        time.sleep(0.1)
                finally:
                    m.unmount()
                row.append(f"{phase}: {args.files / seconds:,.0f} files/s, {1e6 * cpu / args.files:,.0f} us/file")
            print(f"run {run + 1}: " + "; ".join(row), flush=True)
    finally:
        server.proc.terminate()
        server.proc.wait()
        shutil.rmtree(base, ignore_errors=True)
        for cache in caches:
            shutil.rmtree(cache, ignore_errors=True)


if __name__ == "__main__":
    main()
