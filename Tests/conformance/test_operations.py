"""Every operation ossmount uses, driven by both official SDKs, V1 and V4,
with and without an STS token, against a fresh osslocal: contents, headers
and error codes as OSS gives them."""
import hashlib
import os

import oss2
import pytest
import requests

from adapters import SDKError
from osslocal_process import BUCKET


def crc64(data):
    c = oss2.utils.Crc64()
    c.update(data)
    return c.crc


def expect_error(code, fn, *args):
    with pytest.raises(SDKError) as info:
        fn(*args)
    assert info.value.code == code, f"expected {code}, got {info.value.code} ({info.value.status})"
    return info.value


def test_put_get_head(client, key):
    data = os.urandom(300_000)
    r = client.put(key, data, headers={"x-oss-meta-mode": "33188", "Content-Type": "text/plain"})
    assert r["etag"].strip('"') == hashlib.md5(data).hexdigest().upper()
    assert r["crc"] == crc64(data)
    assert client.get(key) == data
    h = client.head(key)
    assert (h["size"], h["type"], h["crc"]) == (len(data), "Normal", crc64(data))
    assert h["meta"] == {"mode": "33188"}


def test_ranges(client, key):
    data = bytes(range(256)) * 40
    client.put(key, data)
    assert client.get(key, byte_range=(100, 199)) == data[100:200]
    # A range past the end: OSS ignores it and sends the whole object, unless the
    # client asks for standard behaviour, which clips it.
    assert client.get(key, byte_range=(10_000, 20_000)) == data
    assert client.get(key, byte_range=(10_000, 20_000), headers={"x-oss-range-behavior": "standard"}) == data[10_000:]


def test_odd_keys_round_trip(client, key):
    for name in ["with space.txt", "uni/文件 café.txt", "a+b=c&d.txt", "100%25 done %.txt", "~x*y'z(1).txt", "a//b///c"]:
        k = key + "/" + name
        client.put(k, name.encode())
        assert client.get(k) == name.encode(), k
    listed = client.list_v2(prefix=key + "/", max_keys=1000)["keys"]
    assert len(listed) == 6 and all(k.startswith(key + "/") for k in listed)


def test_a_key_over_1023_bytes_is_refused(client, key):
    longest = key + "/" + "é" * ((1023 - len(key.encode()) - 1) // 2)
    longest += "k" * (1023 - len(longest.encode()))
    assert len(longest.encode()) == 1023
    client.put(longest, b"x")
    assert client.get(longest) == b"x"
    expect_error("InvalidObjectName", client.put, longest + "k", b"y")
    expect_error("InvalidObjectName", client.get, longest + "k")


def test_missing_objects(client, key):
    expect_error("NoSuchKey", client.get, key + "-missing")
    e = None
    try:
        client.head(key + "-missing")
    except SDKError as err:
        e = err
    assert e is not None and e.status == 404


def test_append_positions_and_conflicts(client, key):
    r1 = client.append(key, 0, b"hello ")
    r2 = client.append(key, r1["next"], b"world")
    assert r2["next"] == 11 and r2["crc"] == crc64(b"hello world")
    assert client.get(key) == b"hello world"
    assert client.head(key)["type"] == "Appendable"
    expect_error("PositionNotEqualToLength", client.append, key, 3, b"x")
    client.put(key + "-normal", b"n")
    expect_error("ObjectNotAppendable", client.append, key + "-normal", 1, b"x")


def test_list_v2_paging_delimiter_start_after(client, key):
    prefix = key + "/"
    names = [f"f{i:03d}" for i in range(25)] + ["sub/a", "sub/b", "sub2/c"]
    for n in names:
        client.put(prefix + n, b"x")
    seen, prefixes, token, pages = [], [], "", 0
    while True:
        page = client.list_v2(prefix=prefix, delimiter="/", max_keys=7, token=token)
        seen += page["keys"]
        prefixes += page["prefixes"]
        pages += 1
        if not page["truncated"]:
            break
        token = page["token"]
    assert seen == [prefix + f"f{i:03d}" for i in range(25)]
    assert prefixes == [prefix + "sub/", prefix + "sub2/"]
    assert pages == 4
    after = client.list_v2(prefix=prefix, start_after=prefix + "f020", max_keys=100)["keys"]
    assert after == [prefix + n for n in ["f021", "f022", "f023", "f024", "sub/a", "sub/b", "sub2/c"]]


# Five '~' or '?' hold an aligned 3-byte group at any offset: "fn5+" or "Pz8/", so a
# standard base64 token would hold '+', '/' and '='.
PAGED_NAMES = [f"{i:04d}{'~~~~~' if i % 2 else '?????'}{'x' * (i % 3)}" for i in range(2100)]


@pytest.fixture(scope="module")
def paged_prefix(servers):
    """2,100 keys under one prefix on each server, written once for every client."""
    import concurrent.futures
    import oss2
    prefix = "paging/"
    for s in servers.values():
        auth = oss2.StsAuth(s.access_key_id, s.secret, s.token) if s.token else oss2.Auth(s.access_key_id, s.secret)
        bucket = oss2.Bucket(auth, s.endpoint, BUCKET, is_path_style=True)
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda n: bucket.put_object(prefix + n, b""), PAGED_NAMES))
    return prefix


@pytest.mark.parametrize("page", [100, 1000])
def test_list_v2_continuation_tokens_are_url_safe(client, paged_prefix, page):
    """Real OSS tokens are URL-safe (e.g. `CgJiYw--`): clients that sign a token as they
    received it fail on the next page when it holds `+`, `/` or `=`."""
    import base64
    import re
    seen, token, tokens = [], "", []
    while True:
        listed = client.list_v2(prefix=paged_prefix, max_keys=page, token=token)
        assert len(listed["keys"]) == min(page, len(PAGED_NAMES) - len(seen))
        seen += listed["keys"]
        if not listed["truncated"]:
            break
        token = listed["token"]
        tokens.append(token)
        # Standard base64 of what the token stands for would need escaping.
        assert set("+/") & set(base64.b64encode(b"K" + seen[-1].encode()).decode())
    assert seen == sorted(paged_prefix + n for n in PAGED_NAMES)
    assert len(tokens) == (len(PAGED_NAMES) - 1) // page
    for t in tokens:
        assert re.fullmatch(r"[A-Za-z0-9_.~-]+", t), t


def test_nfc_and_nfd_keys_are_two_objects(client, key):
    """OSS keys are bytes: the NFC and NFD spellings of a name are different objects."""
    import unicodedata
    nfc, nfd = key + "/" + unicodedata.normalize("NFC", "café"), key + "/" + unicodedata.normalize("NFD", "café")
    assert nfc != nfd and unicodedata.normalize("NFC", nfd) == nfc
    client.put(nfc, b"composed")
    expect_error("NoSuchKey", client.head, nfd)
    client.put(nfd, b"decomposed")
    assert client.get(nfc) == b"composed" and client.get(nfd) == b"decomposed"
    assert client.list_v2(prefix=key + "/")["keys"] == sorted([nfc, nfd], key=lambda k: k.encode())
    assert client.list_v2(prefix=nfd)["keys"] == [nfd]
    client.delete(nfc)
    assert client.get(nfd) == b"decomposed"
    assert client.list_v2(prefix=key + "/")["keys"] == [nfd]


def test_object_meta_is_small_and_describes_a_symlink_itself(client, key):
    """GetObjectMeta (HEAD ?objectMeta) answers ETag, Content-Length, Last-Modified and
    the CRC, not the full HeadObject set; on a symlink it describes the link."""
    client.put(key, b"twelve bytes", headers={"x-oss-meta-mode": "33188"})
    m = client.meta(key)
    assert m["size"] == 12 and m["etag"] == client.head(key)["etag"]
    assert {"etag", "last-modified", "x-oss-hash-crc64ecma"} <= m["headers"]
    assert not {"x-oss-object-type", "x-oss-meta-mode", "content-type"} & m["headers"]
    client.symlink(key + "-link", key + "-gone")
    expect_error("SymlinkTargetNotExist", client.head, key + "-link")
    link = client.meta(key + "-link")
    assert link["size"] == 0 and link["etag"] != m["etag"]
    expect_error("NoSuchKey", client.meta, key + "-none")


def test_delete_and_delete_multiple(client, key):
    keys = [f"{key}/{i}" for i in range(5)]
    for k in keys:
        client.put(k, b"1")
    client.delete(keys[0])
    client.delete(keys[0])  # deleting a missing key succeeds
    assert client.delete_many(keys[1:]) == sorted(keys[1:])
    assert client.list_v2(prefix=key + "/")["keys"] == []


def test_copy_keeps_or_replaces_metadata(client, key):
    client.put(key, b"payload", headers={"x-oss-meta-mode": "420"})
    client.copy(key, key + "-copy")
    assert client.get(key + "-copy") == b"payload"
    assert client.head(key + "-copy")["meta"] == {"mode": "420"}
    client.copy(key, key, meta={"mode": "493", "uid": "1000"})
    assert client.head(key)["meta"] == {"mode": "493", "uid": "1000"}
    assert client.get(key) == b"payload"


def test_multipart_three_parts_with_copy_and_crc(client, key):
    p1, p2 = os.urandom(102_400), os.urandom(150_000)
    source = os.urandom(200_000)
    client.put(key + "-src", source)
    uid = client.mpu_init(key)
    e1 = client.mpu_part(key, uid, 1, p1)
    e2 = client.mpu_part(key, uid, 2, p2)
    e3 = client.mpu_part_copy(key, uid, 3, key + "-src", 1000, 1999)
    assert sorted(client.mpu_list_parts(key, uid)) == [(1, len(p1)), (2, len(p2)), (3, 1000)]
    assert (key, uid) in client.mpu_list_uploads(key)
    r = client.mpu_complete(key, uid, [(1, e1), (2, e2), (3, e3)])
    whole = p1 + p2 + source[1000:2000]
    assert r["crc"] == crc64(whole)
    assert r["etag"].endswith("-3")
    assert client.get(key) == whole
    # Ranges inside one part and across the parts' boundaries (a completed upload is
    # kept as its parts, read end to end).
    for first, last in [(0, 99), (102_300, 102_500), (100_000, len(whole) - 1), (252_399, 252_400)]:
        assert client.get(key, byte_range=(first, last)) == whole[first:last + 1], (first, last)
    assert client.head(key)["type"] == "Multipart"
    assert (key, uid) not in client.mpu_list_uploads(key)


def test_multipart_errors(client, key):
    uid = client.mpu_init(key)
    e1 = client.mpu_part(key, uid, 1, b"small")
    e2 = client.mpu_part(key, uid, 2, b"last")
    expect_error("EntityTooSmall", client.mpu_complete, key, uid, [(1, e1), (2, e2)])
    if client.sdk == "v2sdk":  # oss2 sorts the part list itself, so it cannot send them out of order
        expect_error("InvalidPartOrder", client.mpu_complete, key, uid, [(2, e2), (1, e1)])
    expect_error("InvalidPart", client.mpu_complete, key, uid, [(1, '"0000"')])
    client.mpu_abort(key, uid)
    expect_error("NoSuchUpload", client.mpu_part, key, uid, 3, b"x")


def test_symlinks(client, key):
    client.put(key + "-target", b"linked bytes")
    client.symlink(key + "-link", key + "-target")
    assert client.readlink(key + "-link") == key + "-target"
    assert client.get(key + "-link") == b"linked bytes"
    assert client.head(key + "-link")["type"] == "Symlink"
    expect_error("NotSymlink", client.readlink, key + "-target")


def test_presigned_get_and_put(client, key):
    client.put(key, b"presigned")
    assert requests.get(client.presign("GET", key, 300)).content == b"presigned"
    url = client.presign("PUT", key + "-put", 300)
    assert requests.put(url, data=b"uploaded").status_code == 200
    assert client.get(key + "-put") == b"uploaded"
