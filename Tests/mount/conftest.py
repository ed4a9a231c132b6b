"""Fixtures for mount tests: a signed (V4) osslocal with a request log, and
real FUSE mounts of ossmount against it (background mode, as users run it)."""
import contextlib
import ctypes
import mmap
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




LIBC = ctypes.CDLL("libc.so.6", use_errno=True)
LIBC.mmap.restype = ctypes.c_void_p
LIBC.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
LIBC.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
LIBC.mlock.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
LIBC.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p]


def libc_ok(result):
    """Asserts a libc call returned 0, with its errno's text."""
    assert result == 0, os.strerror(ctypes.get_errno())


@contextlib.contextmanager
def mapped_files(paths):
    """Shared read-only mappings of the files (mapping reads nothing), yielded as
    (address, size) pairs and unmapped on exit: for mincore() (which pages the page
    cache holds) and mlock() (keep them there)."""
    maps = []
    try:
        for path in paths:
            fd = os.open(path, os.O_RDONLY)
            try:
                size = os.fstat(fd).st_size
                addr = LIBC.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, fd, 0)
                assert addr not in (None, ctypes.c_void_p(-1).value), os.strerror(ctypes.get_errno())
                maps.append((addr, size))
            finally:
                os.close(fd)
        yield maps
    finally:
        for addr, size in maps:
            LIBC.munmap(ctypes.c_void_p(addr), size)


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


@pytest.fixture
def cache_dir(env):
    """A directory for `cache_dir=` under the session's base (removed with it)."""
    return tempfile.mkdtemp(prefix="cache-", dir=env.base)
