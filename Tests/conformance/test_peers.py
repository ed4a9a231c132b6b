"""The S3 peers that benchmarks compare against (s3fs, rclone mount) work on
an anonymous osslocal: listing, reading, and multipart writing through a
real FUSE mount."""
import os
import shutil
import subprocess
import tempfile
import time

import pytest
import requests

from conftest import BUCKET, Server
from osslocal_process import wait_until




@pytest.fixture
def anonymous():
    root = tempfile.mkdtemp(prefix="osslocal-peers-")
    server = Server(os.path.join(root, "data"), "unused", "unused", extra=["--anonymous"]).start()
    for i in range(3):
        requests.put(f"{server.endpoint}/{BUCKET}/dir/f{i}.txt", data=f"file {i}\n".encode()).raise_for_status()
    yield server, root
    server.stop()
    shutil.rmtree(root, ignore_errors=True)


MOUNTERS = {
    "s3fs": lambda ep, mnt: ["s3fs", BUCKET, mnt, "-o", f"url={ep},use_path_request_style,public_bucket=1,dbglevel=warn"],
    "rclone": lambda ep, mnt: ["rclone", "mount", f":s3,provider=Other,endpoint='{ep}',force_path_style=true:{BUCKET}",
                               mnt, "--vfs-cache-mode", "off", "--daemon"],
}


@pytest.mark.parametrize("peer", sorted(MOUNTERS))
def test_peer_reads_lists_and_writes(anonymous, peer):
    server, root = anonymous
    assert shutil.which(peer), f"{peer} is not installed (scripts/test.sh installs it)"
    mnt = os.path.join(root, "mnt")
    os.mkdir(mnt)
    env = {k: v for k, v in os.environ.items() if k != "AWS_CA_BUNDLE"}  # rclone refuses a custom bundle for http
    subprocess.run(MOUNTERS[peer](server.endpoint, mnt), check=True, env=env, timeout=60)
    try:
        assert wait_until(lambda: os.path.ismount(mnt))
        assert wait_until(lambda: os.path.isdir(os.path.join(mnt, "dir")))
        assert sorted(os.listdir(os.path.join(mnt, "dir"))) == ["f0.txt", "f1.txt", "f2.txt"]
        with open(os.path.join(mnt, "dir", "f1.txt"), "rb") as f:
            assert f.read() == b"file 1\n"
        data = os.urandom(24 << 20)  # large enough for a multipart upload from either peer
        with open(os.path.join(mnt, "big.bin"), "wb") as f:
            f.write(data)
        assert wait_until(lambda: requests.head(f"{server.endpoint}/{BUCKET}/big.bin").status_code == 200)
        assert requests.get(f"{server.endpoint}/{BUCKET}/big.bin").content == data
    finally:
        subprocess.run(["fusermount3", "-u", mnt], check=False)
        wait_until(lambda: not os.path.ismount(mnt))
