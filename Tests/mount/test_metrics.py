"""Metrics as a platform engineer scrapes them: `-o metrics_addr` serves Prometheus
text whose request counts (by operation and status) match, one for one, what
osslocal's request log saw for a scripted workload; `ossmount stats` shows the
same numbers from the mount itself."""
import collections
import os
import re
import socket
import subprocess
import urllib.error
import urllib.request

from conftest import OSSMOUNT, wait_until

# osslocal's operation names → the client's (ossmount_oss_requests_total's `operation`).
OPERATIONS = {
    "listObjectsV2": "ListObjectsV2", "headObject": "HeadObject", "getObject": "GetObject",
    "putObject": "PutObject", "copyObject": "CopyObject", "appendObject": "AppendObject",
    "deleteObject": "DeleteObject", "deleteMultiple": "DeleteMultipleObjects",
    "initiateUpload": "InitiateMultipartUpload", "uploadPart": "UploadPart", "uploadPartCopy": "UploadPartCopy",
    "completeUpload": "CompleteMultipartUpload", "abortUpload": "AbortMultipartUpload", "listParts": "ListParts",
    "listUploads": "ListMultipartUploads", "putSymlink": "PutSymlink", "getSymlink": "GetSymlink",
}
SAMPLE = re.compile(r'^(\w+)(?:\{(.*)\})? (\S+)$')


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def samples(text):
    """Prometheus text → {(name, frozenset(labels)): value}."""
    out = {}
    for line in text.splitlines():
        m = SAMPLE.match(line)
        if not m or line.startswith("#"):
            continue
        labels = frozenset(re.findall(r'(\w+)="([^"]*)"', m.group(2) or ""))
        out[(m.group(1), labels)] = float(m.group(3))
    return out


def by_operation_and_status(metric_samples):
    counts = collections.Counter()
    for (name, labels), value in metric_samples.items():
        if name == "ossmount_oss_requests_total":
            d = dict(labels)
            counts[(d["operation"], d["status"])] += int(value)
    return counts


def logged(env, since):
    counts = collections.Counter()
    for r in env.requests()[since:]:
        counts[(OPERATIONS.get(r["op"], r["op"]), str(r["status"]))] += 1
    return counts


def scrape(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        assert r.headers["Content-Type"].startswith("text/plain")
        return r.read().decode()


def test_metrics_match_the_servers_request_log_and_stats_shows_them(env):
    port = free_port()
    since = len(env.requests())
    with env.mounted("metrics/", f"metrics_addr=127.0.0.1:{port}") as mnt:
        big = os.urandom(20 << 20)
        small = [os.urandom(n) for n in (1, 4096, 300_000)]
        os.mkdir(os.path.join(mnt, "d"))
        with open(os.path.join(mnt, "d", "big.bin"), "wb") as f:
            f.write(big)
        for i, data in enumerate(small):
            with open(os.path.join(mnt, f"s{i}"), "wb") as f:
                f.write(data)
        assert sorted(os.listdir(mnt)) == ["d", "s0", "s1", "s2"]
        with open(os.path.join(mnt, "d", "big.bin"), "rb") as f:
            assert f.read() == big
        for i, data in enumerate(small):
            with open(os.path.join(mnt, f"s{i}"), "rb") as f:
                assert f.read() == data
        assert not os.path.exists(os.path.join(mnt, "missing"))
        os.rename(os.path.join(mnt, "s1"), os.path.join(mnt, "s1.renamed"))
        os.unlink(os.path.join(mnt, "s0"))

        # Every request the server logged is counted once, with its status, and nothing else.
        assert wait_until(lambda: by_operation_and_status(samples(scrape(port))) == logged(env, since), 15), \
            (by_operation_and_status(samples(scrape(port))), logged(env, since))
        m = samples(scrape(port))
        counts = by_operation_and_status(m)
        assert counts[("UploadPart", "200")] >= 2 and counts[("GetObject", "200")] >= 1
        assert counts[("HeadObject", "404")] >= 1 and counts[("CopyObject", "200")] == 1
        assert m[("ossmount_fuse_written_bytes_total", frozenset())] == len(big) + sum(map(len, small))
        assert m[("ossmount_oss_sent_bytes_total", frozenset())] >= len(big) + sum(map(len, small))
        assert m[("ossmount_oss_received_bytes_total", frozenset())] >= len(big) + sum(map(len, small))
        assert m[("ossmount_fuse_errors_total", frozenset({("operation", "lookup"), ("errno", "ENOENT")}))] >= 1
        latency = dict((dict(k[1])["operation"], v) for k, v in m.items()
                       if k[0] == "ossmount_oss_request_duration_seconds_count")
        assert latency["GetObject"] == sum(v for (op, _), v in counts.items() if op == "GetObject")
        assert m[("ossmount_memory_pool_limit_bytes", frozenset())] > 0
        assert m[("ossmount_open_files", frozenset())] == 0

        # `ossmount stats` reads the same counters through the mount.
        r = subprocess.run([str(OSSMOUNT), "stats", mnt], capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        gets = sum(v for (op, _), v in counts.items() if op == "GetObject")
        assert re.search(rf"^\s+GetObject\s+{gets}\s+0\s+0\s", r.stdout, re.M), r.stdout
        assert "ENOENT lookup" in r.stdout and "memory pool" in r.stdout
        raw = subprocess.run([str(OSSMOUNT), "stats", mnt, "--raw"], capture_output=True, text=True, timeout=30)
        assert raw.returncode == 0 and "_bucket{" not in raw.stdout
        assert by_operation_and_status(samples(raw.stdout)) == by_operation_and_status(samples(scrape(port)))

        # Only GET /metrics (and /) is served.
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/other", timeout=10)
            raise AssertionError("expected 404")
        except urllib.error.HTTPError as e:
            assert e.code == 404


def test_a_taken_metrics_port_fails_the_mount_with_one_line(env):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        mnt = env.base + "/mnt-metrics-taken"
        os.makedirs(mnt, exist_ok=True)
        r = subprocess.run(env.mount_args("", mnt, f"metrics_addr=127.0.0.1:{port}"), env=env.credentials_env(),
                           capture_output=True, text=True, timeout=30)
        assert r.returncode != 0 and not os.path.ismount(mnt)
        assert r.stderr.strip().splitlines() == [
            f"ossmount: cannot serve metrics on 127.0.0.1:{port}: Address already in use; choose another metrics_addr"]


def test_stats_of_a_path_that_is_not_a_mount_says_so(env):
    r = subprocess.run([str(OSSMOUNT), "stats", env.base], capture_output=True, text=True, timeout=30)
    assert r.returncode != 0
    assert r.stderr.strip() == f"ossmount: {env.base} is not a mountpoint"
