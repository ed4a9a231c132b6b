"""Fixtures for mount tests: a signed (V4) osslocal with a request log, and
real FUSE mounts of ossmount against it (background mode, as users run it)."""
import contextlib
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import oss2
import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "conformance"))
from osslocal_process import Server, wait_until  # noqa: E402,F401  (wait_until is re-exported)

ROOT = pathlib.Path(__file__).resolve().parents[2]
OSSMOUNT = ROOT / ".build" / "debug" / "ossmount"
BUCKET = "conformance"
REGION = "cn-hangzhou"




class Env:
    def __init__(self, server, base):
        self.server = server
        self.base = base
        self.log = os.path.join(base, "requests.log")
        self.bucket = oss2.Bucket(oss2.AuthV4(server.access_key_id, server.secret), server.endpoint, BUCKET,
                                  region=REGION, is_path_style=True)

    def credentials_env(self, secret=None):
        return dict(os.environ, OSS_ACCESS_KEY_ID=self.server.access_key_id,
                    OSS_ACCESS_KEY_SECRET=secret or self.server.secret)

    def mount_args(self, prefix, mountpoint, options=""):
        opts = f"endpoint={self.server.endpoint},region={REGION}" + ("," + options if options else "")
        target = f"{BUCKET}:/{prefix}" if prefix else BUCKET
        return [str(OSSMOUNT), target, mountpoint, "-o", opts]

    @contextlib.contextmanager
    def mounted(self, prefix, options=""):
        """Mounts BUCKET:/prefix in the background; unmounts on exit."""
        mnt = tempfile.mkdtemp(prefix="mnt-", dir=self.base)
        r = subprocess.run(self.mount_args(prefix, mnt, options), env=self.credentials_env(), capture_output=True,
                           text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        assert os.path.ismount(mnt)
        try:
            yield mnt
        finally:
            subprocess.run(["fusermount3", "-u", mnt], check=False)
            assert wait_until(lambda: not os.path.ismount(mnt))

    def requests(self):
        """Requests osslocal logged so far, parsed."""
        import json
        with open(self.log) as f:
            return [json.loads(line) for line in f if line.strip()]


@pytest.fixture(scope="session", autouse=True)
def default_log_files():
    """Background mounts without log_file log to /var/log/ossmount/MOUNTPOINT.log: the
    ones this session's mounts (all under /tmp) made are removed at its end."""
    directory = "/var/log/ossmount"
    before = set(os.listdir(directory)) if os.path.isdir(directory) else set()
    yield
    if os.path.isdir(directory):
        for name in set(os.listdir(directory)) - before:
            if name.startswith("tmp-") and name.endswith(".log"):
                os.unlink(os.path.join(directory, name))


@pytest.fixture(scope="session")
def env():
    if not OSSMOUNT.exists():
        pytest.fail(f"{OSSMOUNT} is missing: run `swift build` first")
    base = tempfile.mkdtemp(prefix="ossmount-tests-")
    server = Server(os.path.join(base, "root"), "LTAI5tMountTests", "MountTestsSecret0123",
                    extra=["--request-log", os.path.join(base, "requests.log")]).start()
    yield Env(server, base)
    server.stop()
    # A failed test may leave a mount behind: never leave one.
    for line in open("/proc/mounts"):
        mnt = line.split()[1]
        if mnt.startswith(base):
            subprocess.run(["fusermount3", "-uz", mnt], check=False)
    shutil.rmtree(base, ignore_errors=True)
