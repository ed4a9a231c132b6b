"""Fixtures for the osslocal conformance suite: real osslocal processes (one
with plain keys, one that demands an STS token) and SDK clients for every
combination of official SDK, signature version and credential kind."""
import os
import pathlib
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

from adapters import make_client

ROOT = pathlib.Path(__file__).resolve().parents[2]
BINARY = ROOT / ".build" / "debug" / "osslocal"
BUCKET = "conformance"
REGION = "cn-hangzhou"


class Server:
    """An osslocal process on a free loopback port."""

    def __init__(self, root, access_key_id, secret, token=None, extra=()):
        self.root = root
        self.access_key_id, self.secret, self.token = access_key_id, secret, token
        self.extra = list(extra)
        self.proc = None
        self.endpoint = None

    def start(self, timeout=20):
        env = dict(os.environ, OSSLOCAL_ACCESS_KEY_SECRET=self.secret)
        if self.token:
            env["OSSLOCAL_SECURITY_TOKEN"] = self.token
        self.proc = subprocess.Popen(
            [str(BINARY), "--root", self.root, "--bucket", BUCKET, "--access-key-id", self.access_key_id,
             "--listen", "127.0.0.1:0", "--region", REGION, *self.extra],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True)
        deadline = time.monotonic() + timeout
        line = ""
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if line.startswith("osslocal listening on "):
                self.endpoint = line.split()[-1]
                return self
            if self.proc.poll() is not None:
                break
        raise RuntimeError(f"osslocal did not start: {line!r}")

    def kill(self, sig=signal.SIGKILL):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=20)

    def stop(self):
        self.kill(signal.SIGTERM)


@pytest.fixture(scope="session")
def servers():
    if not BINARY.exists():
        pytest.fail(f"{BINARY} is missing: run `swift build` first")
    base = tempfile.mkdtemp(prefix="osslocal-conformance-")
    plain = Server(os.path.join(base, "plain"), "LTAI5tPlainKey", "PlainSecret0123456789").start()
    sts = Server(os.path.join(base, "sts"), "STS.TempKey", "StsSecret0123456789", token="CAISTokenValue+/=xyz").start()
    yield {"plain": plain, "sts": sts}
    plain.stop()
    sts.stop()
    shutil.rmtree(base, ignore_errors=True)


COMBOS = [(sdk, ver, cred) for sdk in ("oss2", "v2sdk") for ver in ("v1", "v4") for cred in ("plain", "sts")]


@pytest.fixture(params=COMBOS, ids=["-".join(c) for c in COMBOS])
def client(request, servers):
    sdk, ver, cred = request.param
    s = servers[cred]
    return make_client(sdk, ver, s.endpoint, BUCKET, REGION, s.access_key_id, s.secret, s.token)


@pytest.fixture
def key(request):
    """A key unique to the test (and its parameters)."""
    safe = request.node.name.replace("[", "/").replace("]", "")
    return f"t/{safe}/obj"
