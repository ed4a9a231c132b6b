"""The training benchmark behind scripts/bench/train (see docs/BENCHMARKS.md).

One osslocal (in memory, signed, loopback) holds SAMPLES x 100 KiB objects. A torch
DataLoader (batch 64, shuffled, every sample's CRC-32 checked) reads them through an
ossmount mount (listed first on each new mount, as a Dataset does), epochs 1-3 (the page cache warm from epoch 2) and one more after a
remount with the page cache dropped, with and without `cache_dir`; beside it the OSS
Connector for AI/ML's OssMapDataset reads the same objects in-process (epochs 1-2).
Then torch.save/torch.load of a 1 GiB state dict through the mount against
OssCheckpoint. For every phase: seconds, samples/s, requests osslocal logged (GETs,
HEADs), CPU seconds of the daemon, of the loader (with its workers) and of
osslocal, and peak RSS of each of them (the loader's main process and its largest
worker apart). Medians of RUNS go to bench-results/<date>-train.json, .md and .png."""
import argparse
import concurrent.futures
import datetime
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import zlib

BUCKET, REGION = "bench", "cn-hangzhou"
KEY_ID, SECRET = "bench-key", "bench-secret"
SAMPLE_SIZE = 100 << 10
HOSTS, MARK = "/etc/hosts", "# ossmount bench (scripts/bench/train.py)"
CKPT_BYTES = 1 << 30


def log(*a):
    print(*a, flush=True)


def drop_caches():
    subprocess.run(["sync"], check=True)
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"VmHWM:\s+(\d+)", f.read()).group(1)) / 1024


def reset_peak_rss(pid):
    """Starts VmHWM over from the present RSS (Linux 4.0+: clear_refs 5)."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5\n")
    except OSError:
        pass


def children(pid):
    out = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                out += [int(c) for c in f.read().split()]
    except OSError:
        pass
    return out


class WorkerPeaks:
    """The largest VmHWM any descendant of `root` but `others` (osslocal, the daemon)
    reached while it ran (DataLoader workers live for one epoch, so they are sampled
    every 0.1 s rather than read at the end)."""

    def __init__(self, root, others):
        self.root, self.others, self.peak, self.done = root, set(others), 0.0, threading.Event()
        self.thread = threading.Thread(target=self.sample, daemon=True)
        self.thread.start()

    def sample(self):
        while not self.done.wait(0.1):
            todo = children(self.root)
            while todo:
                pid = todo.pop()
                if pid in self.others:
                    continue
                try:
                    self.peak = max(self.peak, peak_rss_mib(pid))
                except (OSError, AttributeError):
                    continue
                todo += children(pid)

    def stop(self):
        self.done.set()
        self.thread.join()
        return self.peak


def paged_out_bytes():
    """Bytes the kernel's DAMON "pageout" schemes have reclaimed so far, or None without
    them. Some VMs run one (kdamond) as proactive reclaim: it evicts page-cache pages left
    idle for a while, even with free memory, so a warm epoch can need a few GETs again."""
    # The kernel answers EBUSY while kdamond is between states: asked again shortly.
    for _ in range(20):
        try:
            return damon_pageout_total()
        except OSError:
            time.sleep(0.05)
    return None


def damon_pageout_total():
    root = "/sys/kernel/mm/damon/admin/kdamonds"
    total, found = 0, False
    for k in (os.listdir(root) if os.path.isdir(root) else []):
        kd = os.path.join(root, k)
        if not k.isdigit() or open(os.path.join(kd, "state")).read().strip() != "on":
            continue
        with open(os.path.join(kd, "state"), "w") as f:
            f.write("update_schemes_stats\n")
        for c in (d for d in os.listdir(os.path.join(kd, "contexts")) if d.isdigit()):
            schemes = os.path.join(kd, "contexts", c, "schemes")
            for s in (d for d in os.listdir(schemes) if d.isdigit()):
                if open(os.path.join(schemes, s, "action")).read().strip() == "pageout":
                    found = True
                    total += int(open(os.path.join(schemes, s, "stats", "sz_applied")).read())
    return total if found else None


def own_cpu():
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


class Server:
    def __init__(self, binary, base):
        self.log = os.path.join(base, "requests.log")
        out = os.path.join(base, "osslocal.out")
        env = dict(os.environ, OSSLOCAL_ACCESS_KEY_SECRET=SECRET)
        self.proc = subprocess.Popen([binary, "--memory", "--bucket", BUCKET, "--access-key-id", KEY_ID, "--listen",
                                      "127.0.0.1:0", "--domain", "localhost", "--request-log", self.log],
                                     env=env, stdout=open(out, "w"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            m = re.search(r"listening on (http://\S+)", open(out).read())
            if m:
                self.endpoint = m.group(1)
                self.port = self.endpoint.rsplit(":", 1)[1]
                return
            time.sleep(0.05)
        raise RuntimeError("osslocal did not start")

    def requests(self):
        with open(self.log) as f:
            return sum(1 for _ in f)

    def ops_since(self, start):
        counts = {}
        with open(self.log) as f:
            for i, line in enumerate(f):
                if i >= start:
                    op = json.loads(line)["op"]
                    counts[op] = counts.get(op, 0) + 1
        return counts


class Mount:
    def __init__(self, binary, server, base, options=""):
        self.mnt = tempfile.mkdtemp(prefix="mnt-", dir=base)
        # The log beside the mountpoint (removed with the run's directory), not in /var/log/ossmount.
        opts = f"endpoint={server.endpoint},region={REGION},log_file={self.mnt}.log" + ("," + options if options else "")
        env = dict(os.environ, OSS_ACCESS_KEY_ID=KEY_ID, OSS_ACCESS_KEY_SECRET=SECRET)
        subprocess.run([binary, BUCKET, self.mnt, "-o", opts], env=env, check=True)
        self.pid = int(subprocess.run(["pgrep", "-n", "-f", f"ossmount {BUCKET} {self.mnt}"], capture_output=True,
                                      text=True, check=True).stdout.split()[0])

    def unmount(self):
        subprocess.run(["fusermount3", "-u", self.mnt], check=True)
        deadline = time.monotonic() + 30
        while os.path.exists(f"/proc/{self.pid}") and time.monotonic() < deadline:
            time.sleep(0.05)
        os.rmdir(self.mnt)


# The loader: module-level so DataLoader workers can use it.
class Samples:
    def __init__(self, root, names, crcs):
        self.root, self.names, self.crcs = root, names, crcs

    def __len__(self):
        return len(self.names)

    def __getitem__(self, i):
        with open(os.path.join(self.root, self.names[i]), "rb") as f:
            data = f.read()
        return len(data) if zlib.crc32(data) == self.crcs[i] else -1


def as_list(batch):
    return batch


def listed(root, names):
    """What a Dataset does when it is built (the connector's from_prefix lists too): the
    directory is listed, untimed, on each new mount."""
    found = set(os.listdir(os.path.join(root, "train")))
    assert found == {n.split("/", 1)[1] for n in names}


def epoch(root, names, crcs, workers):
    import torch
    loader = torch.utils.data.DataLoader(Samples(root, names, crcs), batch_size=64, shuffle=True, num_workers=workers,
                                         collate_fn=as_list)
    started = time.monotonic()
    sizes = [n for batch in loader for n in batch]
    seconds = time.monotonic() - started
    assert len(sizes) == len(names) and min(sizes) == SAMPLE_SIZE, "a sample was wrong"
    return seconds


def measured(server, daemon_pid, body):
    """Runs body(); its seconds and what the phase cost."""
    for pid in (daemon_pid, server.proc.pid, os.getpid()):
        reset_peak_rss(pid)
    start, cpu0 = server.requests(), own_cpu()
    d0 = cpu_seconds(daemon_pid)
    s0, p0 = cpu_seconds(server.proc.pid), paged_out_bytes()
    workers = WorkerPeaks(os.getpid(), (daemon_pid, server.proc.pid))
    seconds = body()
    worker_rss = workers.stop()
    ops = server.ops_since(start)
    p1 = paged_out_bytes()
    return {"seconds": seconds, "gets": ops.get("getObject", 0), "heads": ops.get("headObject", 0),
            "requests": sum(ops.values()), "loader_cpu": own_cpu() - cpu0,
            "daemon_cpu": cpu_seconds(daemon_pid) - d0, "osslocal_cpu": cpu_seconds(server.proc.pid) - s0,
            "daemon_rss": peak_rss_mib(daemon_pid), "osslocal_rss": peak_rss_mib(server.proc.pid),
            "loader_rss": peak_rss_mib(os.getpid()), "worker_rss": worker_rss,
            "paged_out_mib": (p1 - p0) / 2**20 if p0 is not None and p1 is not None else None}


CONNECTOR = textwrap.dedent("""
    import json, os, resource, sys, time, zlib
    import torch
    from osstorchconnector import OssMapDataset, OssCheckpoint
    ep, cred, conf, out, mode, workers, crcs_path = sys.argv[1:8]
    crcs = json.load(open(crcs_path))
    result = {}
    def check(obj):
        data = obj.read()
        key = obj.key.split("/", 2)[2] if obj.key.startswith("/") else obj.key  # "/bench/train/x" in 1.2.3
        return len(data) if zlib.crc32(data) == crcs[key] else -1
    def as_list(b):
        return b
    try:
        if mode == "epochs":
            ds = OssMapDataset.from_prefix("oss://bench/train/", endpoint=ep, cred_path=cred, config_path=conf,
                                           region="cn-hangzhou", transform=check)
            for e in (1, 2):
                loader = torch.utils.data.DataLoader(ds, batch_size=64, shuffle=True, num_workers=int(workers),
                                                     collate_fn=as_list)
                t = time.monotonic()
                sizes = [n for b in loader for n in b]
                result[f"epoch{e}"] = time.monotonic() - t
                assert len(sizes) == len(crcs) and min(sizes) > 0
        else:
            state = json.load(open(crcs_path + ".ckpt"))
            ck = OssCheckpoint(endpoint=ep, cred_path=cred, config_path=conf, region="cn-hangzhou")
            tensors = {f"w{i}": torch.full((state["per"] // 4,), float(i)) for i in range(state["count"])}
            t = time.monotonic()
            with ck.writer("oss://bench/ckpt/connector.pt") as w:
                torch.save(tensors, w)
            result["save"] = time.monotonic() - t
            t = time.monotonic()
            with ck.reader("oss://bench/ckpt/connector.pt") as r:
                back = torch.load(r)
            result["load"] = time.monotonic() - t
            assert all(torch.equal(back[k], v) for k, v in tensors.items())
    except Exception as e:
        result["error"] = repr(e)
    # ru_maxrss is in KiB; the children are the DataLoader's workers, all joined by now.
    result["rss"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result["worker_rss"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    with open(out, "w") as f:
        json.dump(result, f)
    os._exit(0)
""")


def connector(server, base, mode, workers, crcs_path):
    """Runs the connector in a child (its native library crashes at interpreter exit)."""
    cred, conf, out = (os.path.join(base, n) for n in ("cred.json", "conf.json", "connector.json"))
    with open(cred, "w") as f:
        json.dump({"AccessKeyId": KEY_ID, "AccessKeySecret": SECRET}, f)
    with open(conf, "w") as f:
        json.dump({"logLevel": 3, "logPath": os.path.join(base, "connector.log")}, f)
    reset_peak_rss(server.proc.pid)
    start, s0 = server.requests(), cpu_seconds(server.proc.pid)
    t0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(os.path.join(base, "connector.out"), "a") as chatter:  # its native library logs to stdout
        subprocess.run([sys.executable, "-c", CONNECTOR, f"http://localhost:{server.port}", cred, conf, out, mode,
                        str(workers), crcs_path], check=False, timeout=1800, stdout=chatter, stderr=chatter)
    t1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(out) as f:
        result = json.load(f)
    if "error" in result:
        raise RuntimeError("connector: " + result["error"])
    ops = server.ops_since(start)
    result.update(requests=sum(ops.values()), gets=ops.get("getObject", 0),
                  cpu=(t1.ru_utime + t1.ru_stime) - (t0.ru_utime + t0.ru_stime),
                  osslocal_cpu=cpu_seconds(server.proc.pid) - s0, osslocal_rss=peak_rss_mib(server.proc.pid))
    return result


def blocks_bytes(cache):
    total = 0
    for root, _, files in os.walk(os.path.join(cache, "blocks")):
        for name in files:
            try:
                total += os.stat(os.path.join(root, name)).st_size
            except FileNotFoundError:
                pass
    return total


def one_run(args, server, base, names, crcs, crcs_path):
    r = {}
    for workers in args.workers:
        w = f"w{workers}"
        m = Mount(args.ossmount, server, base)
        listed(m.mnt, names)
        for e in (1, 2, 3):
            r[f"{w}.mount.epoch{e}"] = measured(server, m.pid, lambda: epoch(m.mnt, names, crcs, workers))
        m.unmount()
        drop_caches()
        m = Mount(args.ossmount, server, base)
        listed(m.mnt, names)
        r[f"{w}.mount.remount"] = measured(server, m.pid, lambda: epoch(m.mnt, names, crcs, workers))
        m.unmount()

        cache = tempfile.mkdtemp(prefix="train-cache-", dir=args.cache_parent)
        m = Mount(args.ossmount, server, base, f"cache_dir={cache},cache_size=4G")
        listed(m.mnt, names)
        r[f"{w}.cache.epoch1"] = measured(server, m.pid, lambda: epoch(m.mnt, names, crcs, workers))
        # Blocks are written after they are served: let the last ones land.
        expected = len(names) * SAMPLE_SIZE
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and blocks_bytes(cache) < expected:
            time.sleep(0.1)
        m.unmount()
        drop_caches()
        m = Mount(args.ossmount, server, base, f"cache_dir={cache},cache_size=4G")
        listed(m.mnt, names)
        r[f"{w}.cache.remount"] = measured(server, m.pid, lambda: epoch(m.mnt, names, crcs, workers))
        m.unmount()
        # Removed at the end, not here: on ext4 without a journal (some VMs' disks) the
        # next run's 10,000 creates would each scan the inodes deleted less than a minute
        # before (ext4's recently_deleted check), which measures the cleanup, not the mount.
        args.caches.append(cache)

        drop_caches()
        c = connector(server, base, "epochs", workers, crcs_path)
        r[f"{w}.connector.epoch1"] = {"seconds": c["epoch1"]}
        r[f"{w}.connector.epoch2"] = {"seconds": c["epoch2"], "requests": c["requests"], "cpu": c["cpu"],
                                      "osslocal_cpu": c["osslocal_cpu"], "loader_rss": c["rss"],
                                      "worker_rss": c["worker_rss"], "osslocal_rss": c["osslocal_rss"]}
        log(f"  {w}: mount epochs " + ", ".join(f"{r[f'{w}.mount.epoch{e}']['seconds']:.2f}" for e in (1, 2, 3))
            + f" s, remount {r[f'{w}.mount.remount']['seconds']:.2f} s; cache remount "
            f"{r[f'{w}.cache.remount']['seconds']:.2f} s ({r[f'{w}.cache.remount']['gets']} GETs); connector "
            f"{c['epoch1']:.2f}, {c['epoch2']:.2f} s")

    # Checkpoints: a 1 GiB state dict.
    import torch
    per, count = 64 << 20, CKPT_BYTES // (64 << 20)
    with open(crcs_path + ".ckpt", "w") as f:
        json.dump({"per": per, "count": count}, f)
    tensors = {f"w{i}": torch.full((per // 4,), float(i)) for i in range(count)}
    m = Mount(args.ossmount, server, base)
    path = os.path.join(m.mnt, "ckpt.pt")

    def save():
        t = time.monotonic()
        torch.save(tensors, path)
        return time.monotonic() - t
    r["ckpt.mount.save"] = measured(server, m.pid, save)
    m.unmount()
    drop_caches()
    m = Mount(args.ossmount, server, base)

    def load():
        t = time.monotonic()
        back = torch.load(os.path.join(m.mnt, "ckpt.pt"))
        seconds = time.monotonic() - t
        assert all(torch.equal(back[k], v) for k, v in tensors.items())
        return seconds
    r["ckpt.mount.load"] = measured(server, m.pid, load)
    m.unmount()
    del tensors
    c = connector(server, base, "checkpoint", 0, crcs_path)
    r["ckpt.connector.save"] = {"seconds": c["save"], "loader_rss": c["rss"]}
    r["ckpt.connector.load"] = {"seconds": c["load"]}
    log(f"  checkpoint 1 GiB: mount save {r['ckpt.mount.save']['seconds']:.2f} s, load "
        f"{r['ckpt.mount.load']['seconds']:.2f} s; OssCheckpoint save {c['save']:.2f} s, load {c['load']:.2f} s")
    return r


def median(runs, key, field="seconds"):
    values = [run[key].get(field) for run in runs]
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def paged_out(runs, w):
    """What the VM's proactive reclaim took during epochs 1 and 2, when it runs: pages
    read in epoch 1 go too (a perf trace of mm_filemap_delete_from_page_cache showed every
    removal during epoch 1 made by kdamond), and each is a GET in epoch 2."""
    pairs = [(run[f"{w}.mount.epoch1"]["paged_out_mib"], run[f"{w}.mount.epoch2"]["paged_out_mib"]) for run in runs]
    sums = [a + b for a, b in pairs if a is not None and b is not None]
    if not sums:
        return ""
    return f"; meanwhile, in epochs 1 and 2, the kernel's DAMON pageout reclaimed {statistics.median(sums):.0f} MiB"


def report(args, runs, samples):
    rows, targets, chart_rows = [], [], []
    for workers in args.workers:
        w = f"w{workers}"
        e1, e2, e3 = (median(runs, f"{w}.mount.epoch{e}") for e in (1, 2, 3))
        rm, crm = median(runs, f"{w}.mount.remount"), median(runs, f"{w}.cache.remount")
        c1, c2 = median(runs, f"{w}.connector.epoch1"), median(runs, f"{w}.connector.epoch2")
        for label, short, seconds, key in [
            ("mount, epoch 1", "epoch 1", e1, f"{w}.mount.epoch1"),
            ("mount, epoch 2 (page cache warm)", "epoch 2", e2, f"{w}.mount.epoch2"),
            ("mount, epoch 3", "epoch 3", e3, f"{w}.mount.epoch3"),
            ("mount, epoch after remount + drop_caches", "remount", rm, f"{w}.mount.remount"),
            ("mount + cache_dir, epoch 1", "cache_dir epoch 1", median(runs, f"{w}.cache.epoch1"), f"{w}.cache.epoch1"),
            ("mount + cache_dir, epoch after remount + drop_caches", "cache_dir remount", crm, f"{w}.cache.remount"),
        ]:
            rows.append(f"| {workers} | {label} | {seconds:.2f} | {samples / seconds:,.0f} | "
                        f"{median(runs, key, 'gets'):.0f} / {median(runs, key, 'heads'):.0f} | "
                        f"{median(runs, key, 'daemon_cpu'):.1f} | {median(runs, key, 'loader_cpu'):.1f} | "
                        f"{median(runs, key, 'osslocal_cpu'):.1f} | {rss_cells(runs, key)} |")
            chart_rows.append((workers, short, samples / seconds))
        rows.append(f"| {workers} | OSS Connector OssMapDataset, epoch 1 | {c1:.2f} | {samples / c1:,.0f} | | | | | |")
        rows.append(f"| {workers} | OSS Connector OssMapDataset, epoch 2 | {c2:.2f} | {samples / c2:,.0f} | "
                    f"{median(runs, f'{w}.connector.epoch2', 'requests'):.0f} req. (both epochs) | | "
                    f"{median(runs, f'{w}.connector.epoch2', 'cpu'):.1f} (both) | "
                    f"{median(runs, f'{w}.connector.epoch2', 'osslocal_cpu'):.1f} (both) | "
                    f"{rss_cells(runs, f'{w}.connector.epoch2')} |")
        chart_rows += [(workers, "Connector epoch 1", samples / c1), (workers, "Connector epoch 2", samples / c2)]
        targets += [
            (f"{workers} workers: epoch 1 vs OSS Connector", c1 / e1, ">= 1.2x"),
            (f"{workers} workers: epoch 2 vs epoch 1 (requests in epoch 2: "
             f"{median(runs, f'{w}.mount.epoch2', 'requests'):.0f}{paged_out(runs, w)})", e1 / e2,
             ">= 2.5x, 0 requests"),
            (f"{workers} workers: cache_dir epoch after remount vs epoch 1 (GETs: "
             f"{median(runs, f'{w}.cache.remount', 'gets'):.0f})", e1 / crm, ">= 3x, 0 GETs"),
        ]
    save, load = median(runs, "ckpt.mount.save"), median(runs, "ckpt.mount.load")
    csave, cload = median(runs, "ckpt.connector.save"), median(runs, "ckpt.connector.load")
    targets += [("torch.save 1 GiB vs OssCheckpoint", csave / save, ">= 1.3x"),
                ("torch.load 1 GiB vs OssCheckpoint", cload / load, ">= 1.3x")]
    rss = max(median(runs, k, "daemon_rss") for k in runs[0] if ".mount." in k or ".cache." in k)
    cache_rss = max(median(runs, k, "daemon_rss") for k in runs[0] if ".cache." in k)
    lines = [f"# Training benchmark ({datetime.date.today()}, {len(runs)} runs, medians)", "",
             f"{samples:,} samples of 100 KiB on one osslocal (in memory, signed, loopback), read by a torch "
             "DataLoader (batch 64, shuffled, every sample's CRC-32 checked) through ossmount, and by the OSS "
             "Connector for AI/ML's OssMapDataset in-process. GETs / HEADs as osslocal logged them; CPU "
             "seconds of the daemon, of the loader (with its workers) and of osslocal; peak RSS in MiB of the "
             "daemon, the loader's main process, its largest worker and osslocal (which holds every object in "
             "memory). 2 cores, shared by all.",
             "", "| workers | phase | seconds | samples/s | GETs / HEADs | daemon CPU-s | loader CPU-s | osslocal CPU-s "
             "| peak RSS MiB: daemon / loader / worker / osslocal |",
             "|---|---|---|---|---|---|---|---|---|", *rows, "",
             f"Checkpoint of 1 GiB (16 tensors of 64 MiB): torch.save through the mount {save:.2f} s "
             f"({1024 / save:.0f} MiB/s), torch.load after a remount with the page cache dropped {load:.2f} s "
             f"({1024 / load:.0f} MiB/s); OssCheckpoint {csave:.2f} s / {cload:.2f} s. Daemon peak RSS, "
             f"largest median of any phase: {rss:.0f} MiB ({cache_rss:.0f} MiB with cache_dir; total_mem_limit is "
             f"the default 1 GiB); torch.save's process peaks at {median(runs, 'ckpt.mount.save', 'loader_rss'):.0f} "
             f"MiB, OssCheckpoint's at {median(runs, 'ckpt.connector.save', 'loader_rss'):.0f} MiB.", "",
             "| target | measured | wanted |", "|---|---|---|",
             *[f"| {t} | {v:.2f}x | {want} |" for t, v, want in targets]]
    checkpoint = [("torch.save", 1024 / save, 1024 / csave), ("torch.load", 1024 / load, 1024 / cload)]
    return "\n".join(lines) + "\n", chart_rows, checkpoint


def rss_cells(runs, key):
    cells = [median(runs, key, f) for f in ("daemon_rss", "loader_rss", "worker_rss", "osslocal_rss")]
    return " / ".join("" if c is None else f"{c:.0f}" for c in cells)


def chart(path, rows, checkpoint):
    """Samples/s of every phase for each worker count, and the checkpoint's MiB/s."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    counts = sorted({w for w, _, _ in rows}, reverse=True)
    fig, axes = plt.subplots(1, len(counts) + 1, figsize=(4.2 * len(counts) + 3.2, 4.2))
    for ax, workers in zip(axes, counts):
        mine = [(label, v) for w, label, v in rows if w == workers]
        ax.barh(range(len(mine)), [v for _, v in mine],
                color=["#1c7ed6" if label.startswith("Connector") else "#d9480f" for label, _ in mine])
        ax.set_yticks(range(len(mine)))
        ax.set_yticklabels([label for label, _ in mine], fontsize=8)
        ax.invert_yaxis()
        ax.set_title(f"DataLoader, {workers} workers: samples/s", fontsize=9)
        ax.tick_params(axis="x", labelsize=8)
    ax = axes[-1]
    ax.bar([0, 1, 3, 4], [checkpoint[0][1], checkpoint[0][2], checkpoint[1][1], checkpoint[1][2]],
           color=["#d9480f", "#1c7ed6"] * 2)
    ax.set_xticks([0, 1, 3, 4])
    ax.set_xticklabels(["save\nmount", "save\nOssCkpt", "load\nmount", "load\nOssCkpt"], fontsize=8)
    ax.set_title("1 GiB checkpoint: MiB/s", fontsize=9)
    ax.tick_params(axis="y", labelsize=8)
    fig.suptitle(f"Training benchmark ({datetime.date.today()}, 2 cores, loopback osslocal)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--bin", required=True)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--samples", type=int, default=10_000)
    p.add_argument("--workers", default="8,2")
    p.add_argument("--cache-parent", default="/var/tmp")
    args = p.parse_args()
    args.workers = [int(w) for w in args.workers.split(",")]
    args.ossmount = os.path.join(args.bin, "ossmount")
    args.caches = []
    base = tempfile.mkdtemp(prefix="ossbench-train-", dir="/dev/shm")
    hosts = open(HOSTS).read()
    server = None
    try:
        with open(HOSTS, "a") as f:
            f.write(("" if hosts.endswith("\n") else "\n") + f"127.0.0.1 {BUCKET}.localhost {MARK}\n")
        server = Server(os.path.join(args.bin, "osslocal"), base)
        import oss2
        bucket = oss2.Bucket(oss2.AuthV4(KEY_ID, SECRET), server.endpoint, BUCKET, region=REGION, is_path_style=True)
        names = [f"s{i:05d}.bin" for i in range(args.samples)]
        crcs = {}

        def put(name):
            data = os.urandom(SAMPLE_SIZE)
            bucket.put_object("train/" + name, data)
            return name, zlib.crc32(data)
        log(f"loading {args.samples} samples")
        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            crcs = dict(pool.map(put, names))
        crcs_path = os.path.join(base, "crcs.json")
        with open(crcs_path, "w") as f:
            json.dump({"train/" + n: c for n, c in crcs.items()}, f)
        mount_names = ["train/" + n for n in names]
        mount_crcs = [crcs[n] for n in names]
        runs = []
        for i in range(args.runs):
            log(f"run {i + 1} of {args.runs}")
            runs.append(one_run(args, server, base, mount_names, mount_crcs, crcs_path))
        text, chart_rows, checkpoint = report(args, runs, args.samples)
        os.makedirs("bench-results", exist_ok=True)
        stem = f"bench-results/{datetime.date.today()}-train"
        # A second run on the same day keeps the first's results.
        n = 2
        while os.path.exists(stem + ".md"):
            stem, n = f"bench-results/{datetime.date.today()}-train-{n}", n + 1
        with open(stem + ".json", "w") as f:
            json.dump({"samples": args.samples, "workers": args.workers, "runs": runs}, f, indent=1)
        with open(stem + ".md", "w") as f:
            f.write(text)
        chart(stem + ".png", chart_rows, checkpoint)
        print(text)
        print(stem + ".md")
    finally:
        with open(HOSTS, "w") as f:
            f.write(hosts)
        if server:
            server.proc.terminate()
            server.proc.wait()
        for line in open("/proc/mounts"):
            if line.split()[1].startswith(base):
                subprocess.run(["fusermount3", "-uz", line.split()[1]], check=False)
        shutil.rmtree(base, ignore_errors=True)
        for cache in args.caches:
            shutil.rmtree(cache, ignore_errors=True)


if __name__ == "__main__":
    main()
