"""Writes under failure: with 5% of requests failing in every way osslocal can
fail them, 200 files of assorted sizes are written and read back with zero
corruption; a daemon killed with SIGKILL mid-write leaves the key absent, and
its incomplete upload is listed and aborted by `ossmount uploads`."""
import os
import random
import signal
import subprocess
import tempfile
import time

import oss2
import pytest
import requests

from conftest import BUCKET, OSSMOUNT, REGION, wait_until


def crc64(data):
    c = oss2.utils.Crc64()
    c.update(data)
    return c.crc


def test_two_hundred_files_under_five_percent_faults(env):
    rng = random.Random(3)
    sizes = [rng.choice([0, 1, 100, 4096, 100_000, 1 << 20, (1 << 20) + 1, 3 << 20]) for _ in range(200)]
    files = {f"f{i:03d}.bin": os.urandom(n) for i, n in enumerate(sizes)}
    admin = f"{env.server.endpoint}/-/osslocal/faults"
    with env.mounted("w-faults/", "upload_buffer_size=1M") as mnt:
        requests.put(admin, data="500=0.01,503=0.01,reset=0.01,truncate=0.01,slow=20ms@0.01").raise_for_status()
        try:
            for name, data in files.items():
                with open(os.path.join(mnt, name), "wb") as f:
                    f.write(data)
            bad = [name for name, data in files.items() if open(os.path.join(mnt, name), "rb").read() != data]
        finally:
            requests.put(admin, data="").raise_for_status()
    assert bad == []
    for name, data in files.items():
        head = env.bucket.head_object("w-faults/" + name)
        assert head.content_length == len(data) and int(head.headers["x-oss-hash-crc64ecma"]) == crc64(data), name


def test_kill_9_during_a_large_write_leaves_no_object(env):
    mnt = tempfile.mkdtemp(prefix="mnt-", dir=env.base)
    proc = subprocess.Popen(env.mount_args("w-kill/", mnt, "upload_buffer_size=8M") + ["-f"], env=env.credentials_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    writer = None
    try:
        assert wait_until(lambda: os.path.ismount(mnt))
        writer = subprocess.Popen(["dd", "if=/dev/zero", f"of={mnt}/big.bin", "bs=1M", "count=1024"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # Kill the daemon once its multipart upload has parts on the server.
        def parts_uploaded():
            uploads = env.bucket.list_multipart_uploads(prefix="w-kill/").upload_list
            return bool(uploads) and bool(env.bucket.list_parts("w-kill/big.bin", uploads[0].upload_id).parts)
        assert wait_until(parts_uploaded, timeout=60)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
        subprocess.run(["fusermount3", "-uz", mnt], check=False, stderr=subprocess.DEVNULL)
        if writer:
            writer.wait(timeout=30)
    # Never a partial object: dd's first close (of a duplicate, before any write) stored
    # the file as it then was, empty, as open(O_TRUNC) leaves it on a local disk.
    try:
        assert env.bucket.head_object("w-kill/big.bin").content_length == 0
    except oss2.exceptions.NotFound:
        pass
    opts = ["-o", f"endpoint={env.server.endpoint},region={REGION}"]
    listed = subprocess.run([str(OSSMOUNT), "uploads", "list", f"{BUCKET}:/w-kill"] + opts, env=env.credentials_env(),
                            capture_output=True, text=True, timeout=30)
    assert listed.returncode == 0 and "w-kill/big.bin" in listed.stdout
    # A bare abort is refused (live mounts elsewhere may be writing those uploads).
    bare = subprocess.run([str(OSSMOUNT), "uploads", "abort", f"{BUCKET}:/w-kill"] + opts,
                          env=env.credentials_env(), capture_output=True, text=True, timeout=30)
    assert bare.returncode != 0 and "--older-than" in bare.stderr and "--all" in bare.stderr
    assert env.bucket.list_multipart_uploads(prefix="w-kill/").upload_list != []
    aborted = subprocess.run([str(OSSMOUNT), "uploads", "abort", f"{BUCKET}:/w-kill", "--all"] + opts,
                             env=env.credentials_env(), capture_output=True, text=True, timeout=30)
    assert aborted.returncode == 0 and "aborted" in aborted.stdout
    assert env.bucket.list_multipart_uploads(prefix="w-kill/").upload_list == []
