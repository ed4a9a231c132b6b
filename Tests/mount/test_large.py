"""2 GiB through the mount with cp and with dd (conv=fsync): the object's bytes
and CRC-64 equal the source's."""
import os
import subprocess

import oss2

SIZE = 2 << 30
BLOCK = 16 << 20


def crc_of_stream(f):
    c = oss2.utils.Crc64()
    while True:
        chunk = f.read(BLOCK)
        if not chunk:
            return c.crc
        c.update(chunk)


def test_cp_and_dd_of_2_gib(env):
    src = os.path.join(env.base, "two-gib.bin")
    crc = oss2.utils.Crc64()
    block = bytearray(os.urandom(BLOCK))
    with open(src, "wb") as f:
        for i in range(SIZE // BLOCK):
            block[:8] = i.to_bytes(8, "little")  # no two blocks alike
            crc.update(bytes(block))
            f.write(block)
    try:
        with env.mounted("w-large/") as mnt:
            subprocess.run(["cp", src, os.path.join(mnt, "cp.bin")], check=True)
            subprocess.run(["dd", f"if={src}", f"of={mnt}/dd.bin", "bs=1M", "conv=fsync", "status=none"], check=True)
            for name in ["cp.bin", "dd.bin"]:
                assert os.stat(os.path.join(mnt, name)).st_size == SIZE
            with open(os.path.join(mnt, "dd.bin"), "rb") as f:
                assert crc_of_stream(f) == crc.crc  # read back through the mount
        for key in ["w-large/cp.bin", "w-large/dd.bin"]:
            head = env.bucket.head_object(key)
            assert head.content_length == SIZE
            assert int(head.headers["x-oss-hash-crc64ecma"]) == crc.crc, key
        env.bucket.batch_delete_objects(["w-large/cp.bin", "w-large/dd.bin"])
    finally:
        os.unlink(src)
