"""Stopping a mount the way containers and init systems do: SIGTERM while a job
still holds a checkpoint open stores it and exits 0; when the upload cannot
finish within shutdown_timeout the exit is non-zero, the log names the file
and no multipart upload is left; SIGHUP keeps the mount and reopens the log."""
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request

import oss2
import pytest

from conftest import BUCKET, OSSMOUNT, REGION, Server, wait_until

KEY, SECRET = "LTAI5tShutdown", "ShutdownSecret0123"


@pytest.fixture
def setup():
    base = tempfile.mkdtemp(prefix="ossmount-shutdown-")
    server = Server(os.path.join(base, "root"), KEY, SECRET).start()
    bucket = oss2.Bucket(oss2.AuthV4(KEY, SECRET), server.endpoint, BUCKET, region=REGION, is_path_style=True)
    yield base, server, bucket
    server.stop()
    for line in open("/proc/mounts"):
        if line.split()[1].startswith(base):
            subprocess.run(["fusermount3", "-uz", line.split()[1]], check=False)
    shutil.rmtree(base, ignore_errors=True)


def foreground(base, server, options=""):
    """ossmount -f, as a sidecar runs it; returns (process, mountpoint, log path)."""
    mnt = tempfile.mkdtemp(prefix="mnt-", dir=base)
    log = os.path.join(base, "ossmount.log")
    env = dict(os.environ, OSS_ACCESS_KEY_ID=KEY, OSS_ACCESS_KEY_SECRET=SECRET)
    proc = subprocess.Popen([str(OSSMOUNT), BUCKET, mnt, "-f", "-o",
                             f"endpoint={server.endpoint},region={REGION},log_file={log}" + ("," + options if options else "")],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert wait_until(lambda: os.path.ismount(mnt), 30), proc.stderr.read() if proc.poll() is not None else "not mounted"
    return proc, mnt, log


def faults(server, spec):
    req = urllib.request.Request(f"{server.endpoint}/-/osslocal/faults", data=spec.encode(), method="PUT")
    urllib.request.urlopen(req).close()


def test_sigterm_with_a_file_open_for_writing_stores_it_and_exits_0(setup):
    base, server, bucket = setup
    proc, mnt, log = foreground(base, server)
    data = os.urandom(20 << 20)
    f = open(os.path.join(mnt, "ckpt.bin"), "wb")
    f.write(data)
    f.flush()  # in the kernel's hands, the file still open
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0, proc.stderr.read()
    assert not os.path.ismount(mnt)
    with pytest.raises(OSError):
        f.write(b"more")
        f.close()
    assert bucket.get_object("ckpt.bin").read() == data
    assert not list(oss2.MultipartUploadIterator(bucket))
    text = open(log).read()
    assert "shutting down" in text and "stored at shutdown" in text and "ckpt.bin" in text


def test_a_write_that_cannot_finish_in_time_is_aborted_named_and_fails_the_exit(setup):
    base, server, bucket = setup
    proc, mnt, log = foreground(base, server, "shutdown_timeout=2")
    f = open(os.path.join(mnt, "stuck.bin"), "wb")
    faults(server, "slow=4000ms@1.0")  # every request now takes 4 s: the parts cannot finish in 2 s
    try:
        f.write(os.urandom(20 << 20))
        f.flush()
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 1
        assert time.monotonic() - started < 30
    finally:
        faults(server, "")
    with pytest.raises(OSError):
        f.close()
    text = open(log).read()
    assert "not stored at shutdown" in text and "stuck.bin" in text
    assert not bucket.object_exists("stuck.bin")  # never a truncated object
    assert not list(oss2.MultipartUploadIterator(bucket))  # and no upload left


def test_sighup_keeps_the_mount_and_reopens_the_log(setup):
    base, server, bucket = setup
    bucket.put_object("hup.txt", b"still here")
    proc, mnt, log = foreground(base, server)
    try:
        os.rename(log, log + ".1")  # what logrotate does before postrotate
        proc.send_signal(signal.SIGHUP)
        assert wait_until(lambda: os.path.exists(log) and "log file reopened" in open(log).read(), 10)
        assert proc.poll() is None and os.path.ismount(mnt)
        with open(os.path.join(mnt, "hup.txt"), "rb") as f:
            assert f.read() == b"still here"
        assert "mounted" in open(log + ".1").read()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0


def test_a_failed_operation_is_logged_once_with_key_errno_code_and_request_id(setup):
    base, server, bucket = setup
    bucket.put_object("logged.txt", b"x" * 100)
    proc, mnt, log = foreground(base, server, "attr_timeout=0,entry_timeout=0")
    try:
        faults(server, "503=1.0")  # every request fails, after the retries too
        with pytest.raises(OSError) as info:
            open(os.path.join(mnt, "logged.txt")).read()
        assert info.value.errno == 5  # EIO
        faults(server, "")
        lines = [l for l in open(log).read().splitlines() if "operation failed" in l]
        assert len(lines) == 1, lines
        line = lines[0]
        assert "error operation failed" in line and "key=logged.txt" in line and "errno=5 (" in line
        assert "code=ServiceUnavailable" in line and "request_id=" in line and "request_id=-" not in line
        print(line)
    finally:
        faults(server, "")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
