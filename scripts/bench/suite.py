"""The benchmark driver behind scripts/bench/run (see docs/BENCHMARKS.md).

One osslocal (--memory --anonymous, loopback) holds the data sets; the raw-curl
ceiling is measured on it; then each mounter (ossmount, s3fs, rclone with
--vfs-cache-mode off and full) runs every workload on a fresh mount with the
page cache dropped, N times. For each run: the workload's figure, the mounter's
CPU seconds (user+sys, from /proc) and its peak RSS (VmHWM). Results go to
bench-results/<date>.json, .md and .png (report.py)."""
import argparse
import concurrent.futures
import contextlib
import datetime
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

import requests

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import report  # noqa: E402

BUCKET = "bench"
BIG = 2 << 30               # the 2 GiB object
SMALL_COUNT, SMALL_SIZE = 10_000, 100 << 10
MANY_PREFIXES, MANY_PER_PREFIX = 100, 1_000
WRITE_SIZE = 1 << 30
CKPT_SIZE = 2 << 30
RANDOM_SECONDS = 20
BLOCK = 16 << 20
GIB = float(1 << 30)


def log(*a):
    print(*a, flush=True)


def wait_until(pred, timeout=30.0, interval=0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(interval)
    return pred()


def drop_caches():
    subprocess.run(["sync"], check=True)
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


class Server:
    """osslocal; with `tls` it also serves HTTPS on its own CA, which the mounts and the
    curl ceiling then use (`wire`), while data is loaded over plain HTTP (`endpoint`)."""
    def __init__(self, binary, work, tls=False):
        self.work = work
        self.out = open(os.path.join(work, "osslocal.out"), "w+")
        extra = ["--tls-self-signed", os.path.join(work, "pki"), "--tls-listen", "127.0.0.1:0"] if tls else []
        self.proc = subprocess.Popen([binary, "--memory", "--bucket", BUCKET, "--anonymous", "--listen", "127.0.0.1:0",
                                      *extra], stdout=self.out, stderr=subprocess.STDOUT)
        ready = "osslocal CA certificate" if tls else "listening"
        assert wait_until(lambda: ready in open(self.out.name).read()), "osslocal did not start"
        text = open(self.out.name).read()
        urls = [line.split()[-1] for line in text.splitlines() if line.startswith("osslocal listening on")]
        self.endpoint = urls[0]
        self.wire = urls[-1]
        self.ca = os.path.join(work, "pki", "ca.pem") if tls else None
        self.session = requests.Session()

    def url(self, key):
        return f"{self.endpoint}/{BUCKET}/{key}"

    def wire_url(self, key):
        return f"{self.wire}/{BUCKET}/{key}"

    def curl_tls(self):
        return ["--cacert", self.ca] if self.ca else []

    def put(self, key, data):
        self.session.put(self.url(key), data=data).raise_for_status()

    def head_size(self, key):
        r = self.session.head(self.url(key))
        return int(r.headers["Content-Length"]) if r.status_code == 200 else None

    def delete(self, key):
        self.session.delete(self.url(key))

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=30)


def block_stream(total, seed):
    """`total` bytes of distinct 16 MiB blocks (each starts with its index)."""
    base = bytearray(random.Random(seed).randbytes(BLOCK))
    for i in range(total // BLOCK):
        base[:8] = i.to_bytes(8, "little")
        yield bytes(base)


def load_datasets(server):
    log("== data sets: 2 GiB object, 10,000 x 100 KiB, 100,000 keys in 100 prefixes")
    s = server.session
    r = s.post(server.url("big.bin") + "?uploads")
    r.raise_for_status()
    upload_id = r.text.split("<UploadId>")[1].split("</UploadId>")[0]
    parts = []
    for i, chunk in enumerate(block_stream(BIG, 1)):
        r = s.put(server.url("big.bin") + f"?partNumber={i + 1}&uploadId={upload_id}", data=chunk)
        r.raise_for_status()
        parts.append((i + 1, r.headers["ETag"]))
    body = "<CompleteMultipartUpload>" + "".join(
        f"<Part><PartNumber>{n}</PartNumber><ETag>{e}</ETag></Part>" for n, e in parts) + "</CompleteMultipartUpload>"
    s.post(server.url("big.bin") + f"?uploadId={upload_id}", data=body).raise_for_status()
    payload = os.path.join(server.work, "payload.bin")
    with open(payload, "wb") as f:
        f.write(random.Random(2).randbytes(SMALL_SIZE))
    one = os.path.join(server.work, "one.bin")
    with open(one, "wb") as f:
        f.write(b"x")
    uploads = [(f"small/f{i:05d}.bin", payload) for i in range(SMALL_COUNT)]
    uploads += [(f"many/p{p:03d}/k{k:04d}", one) for p in range(MANY_PREFIXES) for k in range(MANY_PER_PREFIX)]
    put_files(server, uploads)
    for key, path in uploads[::997]:
        assert server.head_size(key) == os.path.getsize(path), f"{key} did not load"


def put_files(server, uploads):
    """PUTs (key, local file) pairs with one parallel curl: ~6,000 PUTs/s here,
    ten times what Python clients manage (the loading used to take 3 minutes)."""
    config = os.path.join(server.work, "put.curlrc")
    with open(config, "w") as f:
        for key, path in uploads:
            f.write(f'url = "{server.url(key)}"\nupload-file = "{path}"\noutput = "/dev/null"\n')
    # (curl 7.88 draws its parallel progress meter even with --silent: keep it quiet.)
    r = subprocess.run(["curl", "--silent", "--show-error", "--fail", "--parallel", "--parallel-max", "32",
                        "--config", config], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"loading the data sets failed (curl exit {r.returncode}): {r.stderr.strip()[-500:]}")
    os.unlink(config)


# ---- mounters -------------------------------------------------------------

class Mounter:
    """Mounts one file system at `mnt`; `pid()` finds the daemon serving it. `cache(dir)`
    gives the options that keep file data in a local cache in `dir` (None: it has none)."""
    def __init__(self, name, command, env=None, cache=None):
        self.name, self.command, self.env, self.cache = name, command, env, cache

    def mount(self, server, mnt, cache_dir=None):
        env = dict(os.environ, **(self.env or {}))
        env.pop("AWS_CA_BUNDLE", None)  # rclone refuses a CA bundle for http endpoints
        if server.ca:
            env["CURL_CA_BUNDLE"] = server.ca  # s3fs's libcurl
        command = self.command(server.wire, mnt, server.ca) + (self.cache(cache_dir) if cache_dir else [])
        subprocess.run(command, check=True, env=env, timeout=120, stdout=subprocess.DEVNULL)
        assert wait_until(lambda: os.path.ismount(mnt), 60), f"{self.name} did not mount"
        # The mount answers (rclone and s3fs return before the first request is served).
        assert wait_until(lambda: os.path.isdir(os.path.join(mnt, "small")), 60), f"{self.name} shows no data"
        self._pid = self.find_pid(mnt)

    @staticmethod
    def find_pid(mnt):
        for p in os.listdir("/proc"):
            if not p.isdigit():
                continue
            try:
                argv = open(f"/proc/{p}/cmdline", "rb").read().split(b"\0")
            except OSError:
                continue
            if mnt.encode() in argv and not any(b"fusermount" in a for a in argv[:1]):
                return int(p)
        raise RuntimeError(f"no process serves {mnt}")

    def pid(self):
        return self._pid

    def unmount(self, mnt):
        pid = self._pid
        subprocess.run(["fusermount3", "-u", mnt], check=False)
        if not wait_until(lambda: not os.path.ismount(mnt), 30):
            subprocess.run(["fusermount3", "-uz", mnt], check=False)
        # Wait for the daemon to exit (rclone and s3fs linger briefly after unmount).
        if not wait_until(lambda: not os.path.exists(f"/proc/{pid}"), 30):
            os.kill(pid, signal.SIGKILL)


def mounters(bin_dir, ossmount_options=""):
    ossmount = os.path.join(bin_dir, "ossmount")
    extra = "," + ossmount_options if ossmount_options else ""
    return [
        Mounter("ossmount", lambda ep, mnt, ca: [ossmount, BUCKET, mnt, "-o", f"endpoint={ep},region=cn-hangzhou"
                                                 + f",log_file={mnt}.log"  # beside the mountpoint, removed with it
                                                 + (f",ca_bundle={ca}" if ca else "") + extra],
                env={"OSS_ACCESS_KEY_ID": "bench-key", "OSS_ACCESS_KEY_SECRET": "bench-secret"},
                cache=lambda d: ["-o", f"cache_dir={d},cache_size=8G"]),
        Mounter("s3fs", lambda ep, mnt, ca: ["s3fs", BUCKET, mnt, "-o",
                                             f"url={ep},use_path_request_style,public_bucket=1,dbglevel=err"],
                cache=lambda d: ["-o", f"use_cache={d}"]),
        Mounter("rclone-off", lambda ep, mnt, ca: [
            "rclone", "mount", f":s3,provider=Other,endpoint='{ep}',force_path_style=true:{BUCKET}", mnt,
            "--vfs-cache-mode", "off", "--daemon"] + (["--ca-cert", ca] if ca else [])),
        Mounter("rclone-full", lambda ep, mnt, ca: [
            "rclone", "mount", f":s3,provider=Other,endpoint='{ep}',force_path_style=true:{BUCKET}", mnt,
            "--vfs-cache-mode", "full", "--cache-dir", os.path.join(tempfile.gettempdir(), "rclone-bench-cache"),
            "--daemon"] + (["--ca-cert", ca] if ca else []),
            cache=lambda d: ["--cache-dir", d]),
    ]


def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


# ---- workloads: each returns (figure, bytes moved) -------------------------

def timed(fn):
    start = time.monotonic()
    fn()
    return time.monotonic() - start


def dd_read(path, skip_mib=0, count_mib=None):
    cmd = ["dd", f"if={path}", "of=/dev/null", "bs=1M", "status=none", f"skip={skip_mib}"]
    if count_mib is not None:
        cmd.append(f"count={count_mib}")
    return subprocess.Popen(cmd)


def seq_read_1(mnt, server):
    t = timed(lambda: dd_read(os.path.join(mnt, "big.bin")).wait())
    return BIG / t / (1 << 20), BIG


def seq_read_4(mnt, server):
    q = BIG >> 20 >> 2

    def run():
        procs = [dd_read(os.path.join(mnt, "big.bin"), i * q, q) for i in range(4)]
        assert all(p.wait() == 0 for p in procs)
    t = timed(run)
    return BIG / t / (1 << 20), BIG


def random_4k(mnt, server):
    fd = os.open(os.path.join(mnt, "big.bin"), os.O_RDONLY)
    rng = random.Random(7)
    n = 0
    deadline = time.monotonic() + RANDOM_SECONDS
    try:
        while time.monotonic() < deadline:
            os.pread(fd, 4096, rng.randrange(BIG >> 12) << 12)
            n += 1
    finally:
        os.close(fd)
    return n / RANDOM_SECONDS, n * 4096


def read_small(threads):
    def run(mnt, server):
        names = [os.path.join(mnt, "small", f"f{i:05d}.bin") for i in range(SMALL_COUNT)]

        def read_all(chunk):
            got = 0
            for p in chunk:
                with open(p, "rb") as f:
                    got += len(f.read())
            return got
        start = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(threads) as pool:
            total = sum(pool.map(read_all, [names[i::threads] for i in range(threads)]))
        t = time.monotonic() - start
        assert total == SMALL_COUNT * SMALL_SIZE, total
        return SMALL_COUNT / t, total
    return run


def ls_l(mnt, server):
    out = []
    t = timed(lambda: out.append(subprocess.run(["ls", "-l", os.path.join(mnt, "small")], check=True,
                                                capture_output=True).stdout))
    assert out[0].count(b"\n") == SMALL_COUNT + 1  # "total" line
    return t, 0


def find_all(mnt, server):
    out = []
    t = timed(lambda: out.append(subprocess.run(["find", os.path.join(mnt, "many")], check=True,
                                                capture_output=True).stdout))
    assert out[0].count(b"\n") == MANY_PREFIXES * MANY_PER_PREFIX + MANY_PREFIXES + 1
    return t, 0


def visible(server, key, size):
    """Some mounters upload after close returns (rclone full): the write is done when
    the object is on the server."""
    assert wait_until(lambda: server.head_size(key) == size, 600), f"{key} never reached the server"


def seq_write(source):
    def run(mnt, server):
        key = "w/seq.bin"
        os.makedirs(os.path.join(mnt, "w"), exist_ok=True)
        start = time.monotonic()
        subprocess.run(["dd", f"if={source}", f"of={os.path.join(mnt, key)}", "bs=1M", "status=none"], check=True)
        visible(server, key, WRITE_SIZE)
        t = time.monotonic() - start
        server.delete(key)
        return WRITE_SIZE / t / (1 << 20), WRITE_SIZE
    return run


def checkpoint(mnt, server):
    os.makedirs(os.path.join(mnt, "w"), exist_ok=True)
    tmp, final = os.path.join(mnt, "w", "ckpt.tmp"), os.path.join(mnt, "w", "ckpt")
    start = time.monotonic()
    with open(tmp, "wb") as f:
        for block in block_stream(CKPT_SIZE, 3):
            f.write(block)
        f.flush()
        os.fsync(f.fileno())
    os.rename(tmp, final)
    visible(server, "w/ckpt", CKPT_SIZE)
    t = time.monotonic() - start
    server.delete("w/ckpt")
    return CKPT_SIZE / t / (1 << 20), CKPT_SIZE


def workloads(source):
    """name -> (function, unit, higher is better)."""
    return {
        "seq_read_1": (seq_read_1, "MiB/s", True),
        "seq_read_4": (seq_read_4, "MiB/s", True),
        "random_4k": (random_4k, "IOPS", True),
        "random_4k_cached": (random_4k, "IOPS", True),
        "small_files_1": (read_small(1), "files/s", True),
        "small_files_8": (read_small(8), "files/s", True),
        "ls_l_10k": (ls_l, "s", False),
        "find_100k": (find_all, "s", False),
        "seq_write_1g": (seq_write(source), "MiB/s", True),
        "checkpoint_2g": (checkpoint, "MiB/s", True),
    }


# ---- ceiling ----------------------------------------------------------------

def curl_get(url, first=None, last=None, tls=()):
    cmd = ["curl", "-sf", "-o", "/dev/null", *tls]
    if first is not None:
        cmd += ["-r", f"{first}-{last}"]
    return subprocess.Popen(cmd + [url])


def ceiling(server, source, runs):
    url, tls = server.wire_url("big.bin"), server.curl_tls()
    out = {"seq_read_1": [], "seq_read_4": [], "seq_write_1g": []}
    for _ in range(runs):
        drop_caches()
        t = timed(lambda: curl_get(url, tls=tls).wait())
        out["seq_read_1"].append(BIG / t / (1 << 20))
        q = BIG // 4
        t = timed(lambda: [p.wait() for p in [curl_get(url, i * q, (i + 1) * q - 1, tls) for i in range(4)]])
        out["seq_read_4"].append(BIG / t / (1 << 20))
        t = timed(lambda: subprocess.run(["curl", "-sf", *tls, "-T", source, "-o", "/dev/null",
                                          server.wire_url("w/raw.bin")], check=True))
        out["seq_write_1g"].append(WRITE_SIZE / t / (1 << 20))
        server.delete("w/raw.bin")
    return {k: summary(v) for k, v in out.items()}


def summary(values):
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "runs": values}


# ---- driver -------------------------------------------------------------------

#: A run longer than this is not repeated (slow peers would blow the 30-minute budget).
REPEAT_LIMIT_S = 30


#: Workloads run on a mount with a local data cache that an earlier mount of the same
#: cache directory filled by reading the 2 GiB object whole (the page cache dropped since).
CACHED = {"random_4k_cached"}


def run_workload(m, fn, server, runs, base, cached=False):
    figures, cpu, server_cpu, rss, moved = [], [], [], [], 0
    cache_dir = tempfile.mkdtemp(prefix=f"cache-{m.name}-", dir="/var/tmp") if cached else None
    try:
        for i in range(runs):
            mnt = tempfile.mkdtemp(prefix=f"mnt-{m.name}-", dir=base)
            if cached and i == 0:
                m.mount(server, mnt, cache_dir)
                try:
                    assert dd_read(os.path.join(mnt, "big.bin")).wait() == 0
                finally:
                    m.unmount(mnt)
            m.mount(server, mnt, cache_dir)
            try:
                drop_caches()
                pid = m.pid()
                c0, s0 = cpu_seconds(pid), cpu_seconds(server.proc.pid)
                started = time.monotonic()
                figure, moved = fn(mnt, server)
                took = time.monotonic() - started
                cpu.append(cpu_seconds(pid) - c0)
                server_cpu.append(cpu_seconds(server.proc.pid) - s0)
                rss.append(peak_rss_mib(pid))
                figures.append(figure)
            finally:
                m.unmount(mnt)
                os.rmdir(mnt)
            if took > REPEAT_LIMIT_S:
                break
    finally:
        if cache_dir:
            shutil.rmtree(cache_dir, ignore_errors=True)
    result = summary(figures)
    result["cpu_s"] = statistics.median(cpu)
    result["cpu_s_per_gib"] = statistics.median(cpu) / (moved / GIB) if moved else None
    result["server_cpu_s_per_gib"] = statistics.median(server_cpu) / (moved / GIB) if moved else None
    result["peak_rss_mib"] = max(rss)
    return result


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--only", help="comma-separated mounters")
    ap.add_argument("--workloads", help="comma-separated workloads")
    ap.add_argument("--out", default="bench-results")
    ap.add_argument("--tls", action="store_true", help="mounts and the ceiling over HTTPS (osslocal's own CA)")
    ap.add_argument("--ossmount-options", default="", help="more -o options for ossmount (A/B runs of one option)")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("scripts/bench/run needs root (it drops the page cache and mounts FUSE file systems)")
    started = time.monotonic()
    base = tempfile.mkdtemp(prefix="ossbench-", dir="/tmp")
    source = os.path.join("/dev/shm", f"ossbench-src-{os.getpid()}.bin")
    server = Server(os.path.join(args.bin, "osslocal"), base, tls=args.tls)
    try:
        with open(source, "wb") as f:
            for block in block_stream(WRITE_SIZE, 4):
                f.write(block)
        load_datasets(server)
        log("== ceiling: raw curl against the same osslocal")
        results = {"ceiling": ceiling(server, source, args.runs)}
        chosen = [m for m in mounters(args.bin, args.ossmount_options) if not args.only or m.name in args.only.split(",")]
        wl = workloads(source)
        names = [w for w in wl if not args.workloads or w in args.workloads.split(",")]
        for m in chosen:
            results[m.name] = {}
            for w in names:
                fn, unit, _ = wl[w]
                if w in CACHED and m.cache is None:
                    continue
                r = run_workload(m, fn, server, args.runs, base, cached=w in CACHED)
                results[m.name][w] = r
                log(f"  {m.name:12s} {w:14s} {r['median']:10.2f} {unit:8s} (min {r['min']:.2f}, max {r['max']:.2f})"
                    f"  cpu {r['cpu_s']:.1f} s  rss {r['peak_rss_mib']:.0f} MiB")
        doc = {
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip(),
            "machine": report.machine(),
            "runs": args.runs,
            "transport": "https" if args.tls else "http",
            "workloads": {w: {"unit": wl[w][1], "higher_is_better": wl[w][2]} for w in names},
            "results": results,
            "elapsed_s": round(time.monotonic() - started),
        }
        paths = report.write(doc, args.out)
        log(f"== wrote {', '.join(paths)} in {doc['elapsed_s']} s")
    finally:
        server.stop()
        for line in open("/proc/mounts"):
            if line.split()[1].startswith(base):
                subprocess.run(["fusermount3", "-uz", line.split()[1]], check=False)
        shutil.rmtree(base, ignore_errors=True)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(source)
        shutil.rmtree(os.path.join(tempfile.gettempdir(), "rclone-bench-cache"), ignore_errors=True)


if __name__ == "__main__":
    main()
