"""Appends through the mount: `>>` continues Normal, Multipart and Appendable
objects without downloading them; append_mode makes new files Appendable objects
that readers elsewhere see growing; writes after an fsync continue the object."""
import os
import subprocess
import time

import oss2

from conftest import wait_until


def ops(env, key):
    """Operations osslocal logged for `key`, in order."""
    return [r["op"] for r in env.requests() if r.get("key") == key]


def test_echo_appends_to_normal_multipart_and_appendable_objects(env):
    env.bucket.put_object("w-app/normal.txt", b"normal\n")
    big = os.urandom((2 << 20) + 4321)  # over upload_buffer_size: continued by UploadPartCopy
    uid = env.bucket.init_multipart_upload("w-app/multi.bin").upload_id
    parts = [oss2.models.PartInfo(1, env.bucket.upload_part("w-app/multi.bin", uid, 1, big[:1 << 20]).etag),
             oss2.models.PartInfo(2, env.bucket.upload_part("w-app/multi.bin", uid, 2, big[1 << 20:]).etag)]
    env.bucket.complete_multipart_upload("w-app/multi.bin", uid, parts)
    env.bucket.append_object("w-app/log.txt", 0, b"line 1\n")
    with env.mounted("w-app/", "upload_buffer_size=1M") as mnt:
        for name in ["normal.txt", "multi.bin", "log.txt"]:
            subprocess.run(["bash", "-c", f"echo appended >> '{mnt}/{name}'"], check=True)
        assert open(os.path.join(mnt, "log.txt"), "rb").read() == b"line 1\nappended\n"
    # The large object's bytes were copied server-side, not downloaded and sent back.
    multi = ops(env, "w-app/multi.bin")
    assert "uploadPartCopy" in multi and "getObject" not in multi, multi
    assert "appendObject" in ops(env, "w-app/log.txt")
    assert env.bucket.get_object("w-app/normal.txt").read() == b"normal\nappended\n"
    assert env.bucket.get_object("w-app/multi.bin").read() == big + b"appended\n"
    head = env.bucket.head_object("w-app/log.txt")
    assert head.object_type == "Appendable" and head.content_length == len(b"line 1\nappended\n")


def test_writes_after_fsync_continue_the_object(env):
    with env.mounted("w-fsync/", "upload_buffer_size=1M") as mnt:
        first, second = os.urandom(3 << 20), os.urandom((1 << 20) + 99)
        fd = os.open(os.path.join(mnt, "ckpt.bin"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.write(fd, first)
        os.fsync(fd)  # the object is whole on OSS now
        assert env.bucket.get_object("w-fsync/ckpt.bin").read() == first
        os.write(fd, second)
        os.close(fd)
        with open(os.path.join(mnt, "ckpt.bin"), "rb") as f:
            assert f.read() == first + second
    assert env.bucket.get_object("w-fsync/ckpt.bin").read() == first + second


def test_seek_back_on_an_appended_object_goes_through_staging(env):
    env.bucket.append_object("w-app2/log.txt", 0, b"0123456789\n")
    with env.mounted("w-app2/") as mnt:
        with open(os.path.join(mnt, "log.txt"), "r+b", buffering=0) as f:
            f.seek(0, os.SEEK_END)
            f.write(b"tail\n")
            f.seek(0)
            f.write(b"X")
    assert env.bucket.get_object("w-app2/log.txt").read() == b"X123456789\ntail\n"


def test_append_mode_readers_elsewhere_see_lines_within_the_interval(env):
    interval, attr = 1.0, 1.0
    with env.mounted("w-amode/", f"append_mode,append_flush_interval={interval:g}") as writer_mnt, \
            env.mounted("w-amode/", f"attr_timeout={attr:g},entry_timeout={attr:g}") as reader_mnt:
        path = os.path.join(reader_mnt, "train.log")
        latencies = []
        with open(os.path.join(writer_mnt, "train.log"), "ab", buffering=0) as log:
            for i in range(3):
                line = f"step {i} loss {1.0 / (i + 1):.3f}\n".encode()
                log.write(line)  # reaches the daemon now; no close, no fsync
                sent = time.monotonic()

                def seen():
                    try:
                        with open(path, "rb") as f:
                            return line in f.read()
                    except FileNotFoundError:
                        return False
                assert wait_until(seen, timeout=interval + attr + 3), f"line {i} never appeared"
                latencies.append(time.monotonic() - sent)
        print(f"append_mode: lines visible to another mount after {[round(x, 2) for x in latencies]} s "
              f"(interval {interval} s + attr_timeout {attr} s)")
        assert max(latencies) <= interval + attr + 1.5, latencies
    head = env.bucket.head_object("w-amode/train.log")
    assert head.object_type == "Appendable"
    assert env.bucket.get_object("w-amode/train.log").read().count(b"\n") == 3
