"""The Kubernetes examples in Configs/kubernetes, run here as the kubelet would run
them: each ossmount container's command, arguments, environment (from its Secret,
or RRSA against osslocal's STS) and startup probe, with only the endpoint, the
bucket, the paths and the metrics port made local. The sidecar stores a
checkpoint still open at SIGTERM and exits 0; the DaemonSet's command mounts
again over the mount a killed pod left behind."""
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request

import oss2
import pytest
import yaml

from conftest import BUCKET, OSSMOUNT, REGION, ROOT, Server, wait_until

EXAMPLES = ROOT / "Configs" / "kubernetes"
KEY, SECRET = "LTAI5tKubeTests", "KubeTestsSecret0123"
TOKEN_PATH = "/var/run/secrets/ack.alibabacloud.com/rrsa-tokens/token"
TOKEN = "eyJhbGciOiJSUzI1NiJ9.kube-token"


def documents(name):
    with open(EXAMPLES / name) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def pod_spec(docs):
    for d in docs:
        if d["kind"] == "Pod":
            return d["spec"]
        if d["kind"] in ("DaemonSet", "Deployment", "StatefulSet"):
            return d["spec"]["template"]["spec"]
    raise AssertionError("no pod spec")


def ossmount_container(spec):
    return next(c for c in spec.get("initContainers", []) + spec["containers"] if c["name"] == "ossmount")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def cluster():
    """osslocal with static keys and an STS that takes TOKEN for the DaemonSet's role,
    a directory standing for the node, and `ossmount` first on PATH (as in the image)."""
    base = tempfile.mkdtemp(prefix="ossmount-kube-")
    tokens = os.path.join(base, "accepted-tokens")
    with open(tokens, "w") as f:
        f.write(TOKEN + "\n")
    role = next(e["value"] for e in ossmount_container(pod_spec(documents("daemonset.yaml")))["env"]
                if e["name"] == "ALIBABA_CLOUD_ROLE_ARN")
    server = Server(os.path.join(base, "root"), KEY, SECRET, extra=["--sts-role-arn", role, "--sts-oidc-tokens", tokens]).start()
    bin_dir = os.path.join(base, "bin")
    os.mkdir(bin_dir)
    os.symlink(OSSMOUNT, os.path.join(bin_dir, "ossmount"))
    bucket = oss2.Bucket(oss2.AuthV4(KEY, SECRET), server.endpoint, BUCKET, region=REGION, is_path_style=True)
    yield base, server, bucket, bin_dir
    server.stop()
    for line in open("/proc/mounts"):
        if line.split()[1].startswith(base):
            subprocess.run(["fusermount3", "-uz", line.split()[1]], check=False)
    shutil.rmtree(base, ignore_errors=True)


class Node:
    """What differs between a cluster and this machine, applied to the example's strings."""

    def __init__(self, base, server, bin_dir):
        self.mnt = tempfile.mkdtemp(prefix="mnt-", dir=base)
        self.token = os.path.join(base, "token")
        with open(self.token, "w") as f:
            f.write(TOKEN)
        self.port = free_port()
        self.server = server
        self.bin_dir = bin_dir

    def localize(self, text):
        return (text.replace("/mnt/oss", self.mnt)
                .replace("oss-cn-hangzhou-internal.aliyuncs.com", self.server.endpoint)
                .replace("my-bucket:", f"{BUCKET}:")
                .replace("metrics_addr=0.0.0.0:9101", f"metrics_addr=127.0.0.1:{self.port}")
                .replace(TOKEN_PATH, self.token))

    def environment(self, container, docs):
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OSS_", "ALIBABA_CLOUD_"))}
        env["PATH"] = self.bin_dir + ":/usr/sbin:/usr/bin:/sbin:/bin"
        secrets = {d["metadata"]["name"]: d["stringData"] for d in docs if d["kind"] == "Secret"}
        for source in container.get("envFrom", []):
            for name in secrets[source["secretRef"]["name"]]:
                env[name] = {"OSS_ACCESS_KEY_ID": KEY, "OSS_ACCESS_KEY_SECRET": SECRET}[name]
        for e in container.get("env", []):
            env[e["name"]] = self.localize(e["value"])
        if "ALIBABA_CLOUD_ROLE_ARN" in env:
            env["ALIBABA_CLOUD_STS_ENDPOINT"] = self.server.endpoint  # sts.aliyuncs.com in a cluster
        return env

    def start(self, container, env):
        argv = [self.localize(a) for a in container["command"] + container.get("args", [])]
        return subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    def probe(self, container, env):
        argv = [self.localize(a) for a in container["startupProbe"]["exec"]["command"]]
        return subprocess.run(argv, env=env, capture_output=True, timeout=30).returncode == 0

    def wait_ready(self, container, env, proc):
        limit = container["startupProbe"]["periodSeconds"] * container["startupProbe"]["failureThreshold"]
        assert wait_until(lambda: proc.poll() is not None or self.probe(container, env), limit, 0.2)
        assert proc.poll() is None, proc.stderr.read()

    def metrics(self):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=10) as r:
            return r.read().decode()


def example(cluster, name):
    """The example's pod spec, its ossmount container, a node for it and the container's environment."""
    base, server, _, bin_dir = cluster
    docs = documents(name)
    spec = pod_spec(docs)
    container = ossmount_container(spec)
    node = Node(base, server, bin_dir)
    return spec, container, node, node.environment(container, docs)


def shutdown_timeout(argv_text):
    for option in argv_text.split("-o ")[-1].split(",") if "-o " in argv_text else []:
        if option.startswith("shutdown_timeout="):
            return float(option.split("=")[1])
    return 30.0


def test_the_examples_have_what_a_fuse_container_needs():
    for name in ("sidecar.yaml", "daemonset.yaml"):
        spec = pod_spec(documents(name))
        c = ossmount_container(spec)
        assert c["securityContext"].get("privileged") or "SYS_ADMIN" in c["securityContext"]["capabilities"]["add"]
        mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
        assert mounts["/mnt/oss"]["mountPropagation"] == "Bidirectional" and "/dev/fuse" in mounts
        command = " ".join(c["command"] + c.get("args", []))
        assert " -f" in command  # kept in the foreground: the container's main process
        assert spec["terminationGracePeriodSeconds"] > shutdown_timeout(" ".join(c.get("args", [])).replace("\n", " "))
        others = [m for x in spec["containers"] if x is not c for m in x["volumeMounts"] if m["mountPath"] == "/mnt/oss"]
        assert all(m["mountPropagation"] == "HostToContainer" for m in others)
    sidecar = pod_spec(documents("sidecar.yaml"))
    assert ossmount_container(sidecar)["restartPolicy"] == "Always"  # a native sidecar: stopped after the trainer


def test_the_sidecar_serves_the_trainer_and_stores_an_open_checkpoint_at_sigterm(cluster):
    bucket = cluster[2]
    spec, container, node, env = example(cluster, "sidecar.yaml")
    assert not node.probe(container, env)  # not ready before the mount answers
    bucket.put_object("train-run-1/data/shard-0.bin", b"samples" * 1000)
    proc = node.start(container, env)
    try:
        node.wait_ready(container, env, proc)
        with open(os.path.join(node.mnt, "data", "shard-0.bin"), "rb") as f:
            assert f.read() == b"samples" * 1000
        assert "ossmount_oss_requests_total" in node.metrics()
        os.mkdir(os.path.join(node.mnt, "checkpoints"))
        checkpoint = os.urandom(20 << 20)
        f = open(os.path.join(node.mnt, "checkpoints", "step-100.pt"), "wb")
        f.write(checkpoint)
        f.flush()  # the trainer is still writing when the pod is stopped
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=spec["terminationGracePeriodSeconds"]) == 0, proc.stderr.read()
        assert time.monotonic() - started < shutdown_timeout(" ".join(container["args"]))
        assert not os.path.ismount(node.mnt)
        with pytest.raises(OSError):
            f.close()
        assert bucket.get_object("train-run-1/checkpoints/step-100.pt").read() == checkpoint
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_the_daemonset_mounts_with_rrsa_and_again_over_a_killed_pods_mount(cluster):
    bucket = cluster[2]
    spec, container, node, env = example(cluster, "daemonset.yaml")
    assert "OSS_ACCESS_KEY_ID" not in env and env["ALIBABA_CLOUD_OIDC_TOKEN_FILE"] == node.token
    data = os.urandom(3 << 20)
    bucket.put_object("datasets/imagenet/part-0.tar", data)
    proc = node.start(container, env)
    try:
        node.wait_ready(container, env, proc)
        with open(os.path.join(node.mnt, "imagenet", "part-0.tar"), "rb") as f:
            assert f.read() == data
        with pytest.raises(OSError):
            open(os.path.join(node.mnt, "imagenet", "new.txt"), "wb")  # ro
        assert 'operation="AssumeRoleWithOIDC"' not in node.metrics()  # STS is not OSS: not counted there
        # The pod is killed: its mount stays behind, dead.
        proc.kill()
        proc.wait(timeout=10)
        assert not node.probe(container, env)
        proc = node.start(container, env)
        node.wait_ready(container, env, proc)
        with open(os.path.join(node.mnt, "imagenet", "part-0.tar"), "rb") as f:
            assert f.read() == data
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=spec["terminationGracePeriodSeconds"]) == 0, proc.stderr.read()
        assert not os.path.ismount(node.mnt)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
