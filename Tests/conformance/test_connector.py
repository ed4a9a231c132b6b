"""The OSS Connector for AI/ML (PyPI `osstorchconnector`, the in-process reader
PAI recommends next to ossfs) against osslocal: map-style and iterable datasets
over 2,500 keys with every sample checked, and an OssCheckpoint of 64 MiB.

The connector addresses buckets virtual-hosted (`BUCKET.localhost`) and resolves
names with getaddrinfo, so the test adds that name to /etc/hosts for its run and
takes it out again. It runs the connector in a child process: the connector's
native library crashes while the interpreter exits, after the work is done, so
the child reports its results and leaves with os._exit."""
import concurrent.futures
import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap

import oss2
import pytest

from osslocal_process import BUCKET, REGION, Server

KEYS = 2500
HOSTS = "/etc/hosts"
MARK = "# ossmount conformance (test_connector.py)"


def sample(i):
    """Key i's bytes: distinct content and sizes from 1 to 4 KiB."""
    seed = hashlib.sha256(str(i).encode()).digest()
    return (seed * 128)[: 1 + (i * 37) % 4096]


@contextlib.contextmanager
def host_entry(name):
    with open(HOSTS) as f:
        original = f.read()
    if not os.access(HOSTS, os.W_OK):
        pytest.fail(f"{HOSTS} is not writable: the connector needs {name} to resolve to 127.0.0.1")
    with open(HOSTS, "a") as f:
        f.write(("" if original.endswith("\n") else "\n") + f"127.0.0.1 {name} {MARK}\n")
    try:
        yield
    finally:
        with open(HOSTS) as f:
            lines = [line for line in f.read().splitlines(keepends=True) if MARK not in line]
        with open(HOSTS, "w") as f:
            f.write("".join(lines))


@pytest.fixture(scope="module")
def connector_server():
    pytest.importorskip("torch", reason="torch is not installed (scripts/lib/deps.sh installs a CPU wheel)")
    pytest.importorskip("osstorchconnector", reason="osstorchconnector is not installed (scripts/lib/deps.sh)")
    base = tempfile.mkdtemp(prefix="osslocal-connector-")
    log = os.path.join(base, "requests.log")
    server = Server(os.path.join(base, "root"), "LTAI5tConnector", "ConnectorSecret0123",
                    extra=["--domain", "localhost", "--request-log", log]).start()
    bucket = oss2.Bucket(oss2.AuthV4(server.access_key_id, server.secret), server.endpoint, BUCKET, region=REGION,
                         is_path_style=True)
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: bucket.put_object(f"dataset/{i:05d}.bin", sample(i)), range(KEYS)))
    with open(os.path.join(base, "cred.json"), "w") as f:
        json.dump({"AccessKeyId": server.access_key_id, "AccessKeySecret": server.secret}, f)
    with open(os.path.join(base, "config.json"), "w") as f:
        json.dump({"logLevel": 2, "logPath": os.path.join(base, "connector.log")}, f)
    port = server.endpoint.rsplit(":", 1)[1]
    with host_entry(f"{BUCKET}.localhost"):
        yield {"server": server, "bucket": bucket, "base": base, "log": log, "endpoint": f"http://localhost:{port}"}
    server.stop()
    shutil.rmtree(base, ignore_errors=True)


def run_connector(env, body):
    """Runs `body` (Python using `ep`, `cred`, `conf`, `report`) in a child process; returns its report."""
    out = os.path.join(env["base"], "report.json")
    script = textwrap.dedent("""
        import json, os, sys
        ep, cred, conf, out = sys.argv[1:5]
        results = {}
        def report(**kw):
            results.update(kw)
        try:
        {body}
        finally:
            with open(out, "w") as f:
                json.dump(results, f)
            sys.stdout.flush()
            os._exit(0)
    """).replace("{body}", textwrap.indent(textwrap.dedent(body), "    "))
    if os.path.exists(out):
        os.unlink(out)
    r = subprocess.run([sys.executable, "-c", script, env["endpoint"], os.path.join(env["base"], "cred.json"),
                        os.path.join(env["base"], "config.json"), out], capture_output=True, text=True, timeout=300)
    assert os.path.exists(out), f"the connector process died (status {r.returncode}): {r.stderr[-2000:]}"
    with open(out) as f:
        results = json.load(f)
    assert "error" not in results, results["error"]
    return results


CHECK = """
import hashlib
def digest(i):
    seed = hashlib.sha256(str(i).encode()).digest()
    return hashlib.md5((seed * 128)[: 1 + (i * 37) % 4096]).hexdigest()
def check(objects):
    bad, seen = [], []
    for o in objects:
        i = int(o.key.rsplit("/", 1)[1].split(".")[0])
        seen.append(i)
        if hashlib.md5(o.read()).hexdigest() != digest(i):
            bad.append(o.key)
    return bad, seen
"""


def test_map_dataset_from_prefix_reads_every_sample(connector_server):
    results = run_connector(connector_server, CHECK + f"""
try:
    from osstorchconnector import OssMapDataset
    ds = OssMapDataset.from_prefix("oss://{BUCKET}/dataset/", endpoint=ep, cred_path=cred, config_path=conf,
                                   region="{REGION}")
    bad, seen = check(ds[i] for i in range(len(ds)))
    report(length=len(ds), bad=bad, seen=seen)
except Exception as e:
    report(error=repr(e))
""")
    assert results["length"] == KEYS
    assert results["bad"] == []
    assert results["seen"] == list(range(KEYS))
    # More than one page: the continuation token the connector signed was accepted.
    lists = [json.loads(line) for line in open(connector_server["log"]) if '"listObjects' in line]
    assert any("continuation-token=" in e["query"] and e["status"] == 200 for e in lists), lists[-3:]


def test_iterable_dataset_reads_every_sample(connector_server):
    results = run_connector(connector_server, CHECK + f"""
try:
    from osstorchconnector import OssIterableDataset
    ds = OssIterableDataset.from_prefix("oss://{BUCKET}/dataset/", endpoint=ep, cred_path=cred, config_path=conf,
                                        region="{REGION}")
    bad, seen = check(iter(ds))
    report(bad=bad, seen=sorted(seen))
except Exception as e:
    report(error=repr(e))
""")
    assert results["bad"] == []
    assert results["seen"] == list(range(KEYS))


def test_checkpoint_of_64_mib_writes_and_reads_back(connector_server):
    results = run_connector(connector_server, f"""
try:
    import hashlib
    from osstorchconnector import OssCheckpoint
    data = hashlib.sha256(b"checkpoint").digest() * (2 << 20)
    ck = OssCheckpoint(endpoint=ep, cred_path=cred, config_path=conf, region="{REGION}")
    with ck.writer("oss://{BUCKET}/ckpt/model.bin") as w:
        w.write(data)
    with ck.reader("oss://{BUCKET}/ckpt/model.bin") as r:
        back = r.read()
    report(size=len(back), same=back == data, md5=hashlib.md5(data).hexdigest())
except Exception as e:
    report(error=repr(e))
""")
    assert results["size"] == 64 << 20 and results["same"]
    # What OSS holds, read by the other SDK.
    stored = connector_server["bucket"].get_object("ckpt/model.bin").read()
    assert hashlib.md5(stored).hexdigest() == results["md5"]
