"""osslocal's directory backend survives kill -9: every committed object is
intact after a restart on the same root, and an upload cut off mid-body leaves
no object and no stray bytes."""
import os
import shutil
import socket
import tempfile
import time
import urllib.parse

import oss2
import pytest

from conftest import BUCKET, REGION, Server
from osslocal_process import wait_until


def crc64(data):
    c = oss2.utils.Crc64()
    c.update(data)
    return c.crc




@pytest.fixture
def durable():
    root = tempfile.mkdtemp(prefix="osslocal-durable-")
    server = Server(root, "LTAI5tDurable", "DurableSecret").start()
    yield server
    server.stop()
    shutil.rmtree(root, ignore_errors=True)


def bucket(server):
    return oss2.Bucket(oss2.AuthV4(server.access_key_id, server.secret), server.endpoint, BUCKET, region=REGION,
                       is_path_style=True)


def data_files(server):
    return set(os.listdir(os.path.join(server.root, BUCKET, "data")))


def test_two_hundred_objects_survive_kill_9(durable):
    b = bucket(durable)
    expected = {}
    for i in range(200):
        key = f"d/{i:03d}"
        if i % 20 == 0:  # every 20th is a 3-part multipart upload
            parts = [os.urandom(102_400), os.urandom(102_400), os.urandom(1000 + i)]
            uid = b.init_multipart_upload(key).upload_id
            infos = [oss2.models.PartInfo(n + 1, b.upload_part(key, uid, n + 1, p).etag) for n, p in enumerate(parts)]
            b.complete_multipart_upload(key, uid, infos)
            data = b"".join(parts)
        else:
            data = os.urandom(i * 37)
            b.put_object(key, data)
        expected[key] = crc64(data)
    durable.kill()  # SIGKILL: no chance to flush anything
    durable.start()
    b = bucket(durable)
    keys = [o.key for o in oss2.ObjectIteratorV2(b, prefix="d/")]
    assert keys == sorted(expected)
    for key, crc in expected.items():
        body = b.get_object(key).read()
        assert crc64(body) == crc, key
        assert int(b.head_object(key).headers["x-oss-hash-crc64ecma"]) == crc


def partial_put(server, key, total, sent):
    """Sends a signed PUT of `total` bytes but only `sent` of its body; returns the socket."""
    auth = oss2.AuthV4(server.access_key_id, server.secret)
    url = f"{server.endpoint}/{BUCKET}/{urllib.parse.quote(key)}"
    req = oss2.http.Request("PUT", url, data=b"", headers={"Content-Length": str(total)}, region=REGION, product="oss")
    auth._sign_request(req, BUCKET, key)
    host, port = server.endpoint[len("http://"):].split(":")
    sock = socket.create_connection((host, int(port)))
    head = f"PUT /{BUCKET}/{urllib.parse.quote(key)} HTTP/1.1\r\nHost: {host}:{port}\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in req.headers.items()) + "\r\n"
    sock.sendall(head.encode() + b"\0" * sent)
    return sock


def test_upload_killed_mid_body_leaves_nothing(durable):
    b = bucket(durable)
    b.put_object("keep", b"kept")
    before = data_files(durable)
    sock = partial_put(durable, "cut", 10 << 20, 1 << 20)
    # The server has taken part of the body into a blob file: now kill it.
    assert wait_until(lambda: len(data_files(durable)) > len(before))
    durable.kill()
    sock.close()
    durable.start()
    b = bucket(durable)
    with pytest.raises(oss2.exceptions.NotFound):
        b.head_object("cut")
    assert b.get_object("keep").read() == b"kept"
    assert data_files(durable) == before  # the partial blob was removed at start


def test_client_gone_mid_body_leaves_nothing(durable):
    b = bucket(durable)
    before = data_files(durable)
    sock = partial_put(durable, "gone", 10 << 20, 1 << 20)
    assert wait_until(lambda: len(data_files(durable)) > len(before))
    sock.close()
    assert wait_until(lambda: data_files(durable) == before)
    with pytest.raises(oss2.exceptions.NotFound):
        b.head_object("gone")


def test_completed_upload_links_its_parts(durable):
    """Complete keeps the parts' own files (hard links in the object's directory) instead
    of copying their bytes. Ranges across parts, a copy of the object, a part copied from a
    range of it, a delete of the source, a kill -9 and restart: every read stays exact, and
    deleting everything leaves no bytes behind."""
    b = bucket(durable)
    data = os.path.join(durable.root, BUCKET, "data")
    parts = [os.urandom(102_400), os.urandom(150_001), os.urandom(7777)]
    whole = b"".join(parts)
    uid = b.init_multipart_upload("mp").upload_id
    before = data_files(durable)
    infos = [oss2.models.PartInfo(n + 1, b.upload_part("mp", uid, n + 1, p).etag) for n, p in enumerate(parts)]
    part_inodes = {os.stat(os.path.join(data, f)).st_ino for f in data_files(durable) - before}
    assert len(part_inodes) == 3
    b.complete_multipart_upload("mp", uid, infos)
    (blob,) = data_files(durable) - before
    segments = sorted(os.listdir(os.path.join(data, blob)), key=int)
    assert segments == ["0", "1", "2"]
    assert {os.stat(os.path.join(data, blob, s)).st_ino for s in segments} == part_inodes  # the same files

    b.copy_object(BUCKET, "mp", "mp-copy")
    uid = b.init_multipart_upload("pc").upload_id
    etag = b.upload_part_copy(BUCKET, "mp", (100_000, 260_000), "pc", uid, 1).etag
    b.complete_multipart_upload("pc", uid, [oss2.models.PartInfo(1, etag)])
    b.delete_object("mp")

    def check():
        assert b.get_object("mp-copy").read() == whole
        assert b.get_object("mp-copy", byte_range=(102_390, 252_410)).read() == whole[102_390:252_411]
        assert b.get_object("pc").read() == whole[100_000:260_001]
        with pytest.raises(oss2.exceptions.NoSuchKey):
            b.get_object("mp")
    check()
    durable.kill()
    durable.start()
    b = bucket(durable)
    check()
    b.delete_object("mp-copy")
    b.delete_object("pc")
    assert data_files(durable) == set()
