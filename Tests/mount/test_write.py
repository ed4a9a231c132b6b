"""The write side: new files and whole rewrites streamed to OSS (PutObject when
small, multipart when large), edits, seek-backs and truncation through a
staging file, mkdir/rmdir/unlink, rename, metadata, errors at close when the
upload fails. A seek back after parts of a streamed file were uploaded works
from a kept copy of the uploaded parts (ENOTSUP with seekable_writes=false).
Appends: test_append.py; 2 GiB: test_large.py."""
import errno
import hashlib
import os
import subprocess

import oss2
import pytest
import requests


def crc64(data):
    c = oss2.utils.Crc64()
    c.update(data)
    return c.crc


def test_small_and_multipart_files_round_trip(env):
    with env.mounted("w-files/", "upload_buffer_size=1M") as mnt:
        small = b"hello world\n"
        with open(os.path.join(mnt, "small.txt"), "wb") as f:
            f.write(small)
        big = os.urandom((5 << 20) + 12345)  # 6 parts of 1 MiB
        src = os.path.join(env.base, "big-src.bin")
        with open(src, "wb") as f:
            f.write(big)
        subprocess.run(["cp", src, os.path.join(mnt, "big.bin")], check=True)
        subprocess.run(["cmp", src, os.path.join(mnt, "big.bin")], check=True)
        with open(os.path.join(mnt, "small.txt"), "rb") as f:
            assert f.read() == small
    assert env.bucket.get_object("w-files/small.txt").read() == small
    head = env.bucket.head_object("w-files/big.bin")
    assert head.object_type == "Multipart" and head.content_length == len(big)
    assert int(head.headers["x-oss-hash-crc64ecma"]) == crc64(big)
    assert head.headers["x-oss-meta-mode"] == str(0o644)


def test_shell_redirection_and_truncating_rewrite(env):
    with env.mounted("w-shell/") as mnt:
        path = os.path.join(mnt, "f.txt")
        subprocess.run(["bash", "-c", f"echo first > '{path}'"], check=True)  # closes a dup before writing
        assert open(path, "rb").read() == b"first\n"
        subprocess.run(["bash", "-c", f"echo second, longer > '{path}'"], check=True)
        assert open(path, "rb").read() == b"second, longer\n"
        subprocess.run(["touch", os.path.join(mnt, "empty")], check=True)
        assert os.stat(os.path.join(mnt, "empty")).st_size == 0
    assert env.bucket.get_object("w-shell/f.txt").read() == b"second, longer\n"
    assert env.bucket.head_object("w-shell/empty").content_length == 0


def test_directories_and_removal(env):
    with env.mounted("w-dirs/") as mnt:
        subprocess.run(["mkdir", "-p", os.path.join(mnt, "a/b/c")], check=True)
        with open(os.path.join(mnt, "a/b/c/f"), "wb") as f:
            f.write(b"x")
        with pytest.raises(OSError) as info:
            os.rmdir(os.path.join(mnt, "a/b/c"))
        assert info.value.errno == errno.ENOTEMPTY
        with pytest.raises(FileExistsError):
            os.mkdir(os.path.join(mnt, "a"))
        os.unlink(os.path.join(mnt, "a/b/c/f"))
        assert not os.path.exists(os.path.join(mnt, "a/b/c/f"))
        os.rmdir(os.path.join(mnt, "a/b/c"))
        subprocess.run(["rm", "-r", os.path.join(mnt, "a")], check=True)
        assert os.listdir(mnt) == []
    assert [o.key for o in oss2.ObjectIteratorV2(env.bucket, prefix="w-dirs/")] == []


def test_seek_back_pwrite_zip_and_append_through_staging(env):
    import io
    import random
    import zipfile
    env.bucket.put_object("w-edit/log.txt", b"line 1\n")
    with env.mounted("w-edit/") as mnt:
        # zipfile seeks back to patch each member's header.
        with zipfile.ZipFile(os.path.join(mnt, "a.zip"), "w") as z:
            z.writestr("x.txt", b"x" * 10_000)
            z.writestr("y.bin", os.urandom(50_000))
        with zipfile.ZipFile(os.path.join(mnt, "a.zip")) as z:
            assert z.testzip() is None and z.read("x.txt") == b"x" * 10_000
        # pwrite at random offsets, as a database file would be written.
        model = bytearray(200_000)
        fd = os.open(os.path.join(mnt, "p.bin"), os.O_CREAT | os.O_RDWR, 0o644)
        rng = random.Random(5)
        end = 0
        for _ in range(100):
            off, n = rng.randrange(0, 190_000), rng.randrange(1, 10_000)
            data = os.urandom(n)
            os.pwrite(fd, data, off)
            model[off:off + n] = data
            end = max(end, off + n)
        assert os.pread(fd, 100, 0) == bytes(model[:100])
        os.close(fd)
        with open(os.path.join(mnt, "p.bin"), "rb") as f:
            assert f.read() == bytes(model[:end])
        # Appending to an existing object continues it.
        subprocess.run(["bash", "-c", f"echo 'line 2' >> '{mnt}/log.txt'"], check=True)
        assert open(os.path.join(mnt, "log.txt"), "rb").read() == b"line 1\nline 2\n"
        # truncate: grow, then shrink.
        subprocess.run(["truncate", "-s", "20", os.path.join(mnt, "log.txt")], check=True)
        assert open(os.path.join(mnt, "log.txt"), "rb").read() == b"line 1\nline 2\n" + b"\0" * 6
        subprocess.run(["truncate", "-s", "4", os.path.join(mnt, "log.txt")], check=True)
        assert open(os.path.join(mnt, "log.txt"), "rb").read() == b"line"
    assert env.bucket.get_object("w-edit/log.txt").read() == b"line"
    with zipfile.ZipFile(io.BytesIO(env.bucket.get_object("w-edit/a.zip").read())) as z:
        assert z.testzip() is None


def test_seek_back_after_parts_went_out(env):
    import numpy as np
    head, body = os.urandom(64), os.urandom(3 << 20)
    with env.mounted("w-seek/", "upload_buffer_size=1M") as mnt:
        # Parts of the body are uploaded before the header is patched: the kept copy
        # of uploaded parts (seekable_writes) moves the file to staging.
        with open(os.path.join(mnt, "ckpt.bin"), "wb", buffering=0) as f:
            f.write(b"\0" * 64 + body)
            f.seek(0)
            f.write(head)
        # numpy.savez is a zip writer that seeks back to each member's header.
        arrays = {"w": np.arange(1_000_000, dtype=np.float64), "b": np.ones(10)}
        np.savez(os.path.join(mnt, "weights.npz"), **arrays)
        with np.load(os.path.join(mnt, "weights.npz")) as z:
            assert all(np.array_equal(z[k], v) for k, v in arrays.items())
    assert env.bucket.get_object("w-seek/ckpt.bin").read() == head + body
    with env.mounted("w-seek/", "upload_buffer_size=1M,seekable_writes=false") as mnt:
        with open(os.path.join(mnt, "big.bin"), "wb", buffering=0) as f:
            f.write(b"a" * (3 << 20))
            f.seek(10)
            with pytest.raises(OSError) as info:
                f.write(b"b")
            assert info.value.errno == errno.ENOTSUP
    assert env.bucket.get_object("w-seek/big.bin").read() == b"a" * (3 << 20)


def test_failed_upload_errors_at_close_and_leaves_no_object(env):
    admin = f"{env.server.endpoint}/-/osslocal/faults"
    with env.mounted("w-fail/", "upload_buffer_size=1M") as mnt:
        f = open(os.path.join(mnt, "doomed.bin"), "wb", buffering=0)
        f.write(os.urandom(3 << 20))  # two parts on their way, the tail still buffered
        requests.put(admin, data="503=1.0").raise_for_status()
        try:
            with pytest.raises(OSError) as info:
                f.close()
            assert info.value.errno == errno.EIO
        finally:
            requests.put(admin, data="").raise_for_status()
        g = open(os.path.join(mnt, "small-doomed.txt"), "wb", buffering=0)
        g.write(b"tiny")
        requests.put(admin, data="500=1.0").raise_for_status()
        try:
            with pytest.raises(OSError):
                g.close()
        finally:
            requests.put(admin, data="").raise_for_status()
    for key in ["w-fail/doomed.bin", "w-fail/small-doomed.txt"]:
        with pytest.raises(oss2.exceptions.NotFound):
            env.bucket.head_object(key)


def test_rename_file_large_file_and_directory(env):
    from test_read import put_all
    env.bucket.put_object("w-mv/a.txt", b"move me")
    block = os.urandom(1 << 20)
    uid = env.bucket.init_multipart_upload("w-mv/huge.bin").upload_id
    parts = [oss2.models.PartInfo(i + 1, env.bucket.upload_part("w-mv/huge.bin", uid, i + 1, block * 256).etag)
             for i in range(6)]  # 1.5 GiB
    env.bucket.complete_multipart_upload("w-mv/huge.bin", uid, parts)
    huge_crc = int(env.bucket.head_object("w-mv/huge.bin").headers["x-oss-hash-crc64ecma"])
    put_all(env.bucket, [(f"w-mv/d/sub{i % 10}/f{i:04d}", str(i).encode()) for i in range(1000)])
    with env.mounted("w-mv/") as mnt:
        os.rename(os.path.join(mnt, "a.txt"), os.path.join(mnt, "b.txt"))
        assert open(os.path.join(mnt, "b.txt"), "rb").read() == b"move me"
        assert not os.path.exists(os.path.join(mnt, "a.txt"))
        subprocess.run(["mv", os.path.join(mnt, "huge.bin"), os.path.join(mnt, "huge2.bin")], check=True, timeout=300)
        subprocess.run(["mv", os.path.join(mnt, "d"), os.path.join(mnt, "e")], check=True, timeout=300)
        assert sorted(os.listdir(os.path.join(mnt, "e"))) == [f"sub{i}" for i in range(10)]
        assert open(os.path.join(mnt, "e/sub7/f0007"), "rb").read() == b"7"
        assert not os.path.exists(os.path.join(mnt, "d"))
        # RENAME_NOREPLACE is honoured (mv -n uses it).
        open(os.path.join(mnt, "c.txt"), "wb").close()
        subprocess.run(["mv", "-n", os.path.join(mnt, "b.txt"), os.path.join(mnt, "c.txt")], check=False)
        assert open(os.path.join(mnt, "b.txt"), "rb").read() == b"move me"
    keys = [o.key for o in oss2.ObjectIteratorV2(env.bucket, prefix="w-mv/")]
    assert len([k for k in keys if k.startswith("w-mv/e/")]) == 1000 and not any(k.startswith("w-mv/d/") for k in keys)
    head = env.bucket.head_object("w-mv/huge2.bin")
    assert head.content_length == 1536 << 20 and int(head.headers["x-oss-hash-crc64ecma"]) == huge_crc


def test_metadata_and_symlinks_persist_across_mounts(env):
    env.bucket.put_object("w-meta/f.txt", b"data")
    with env.mounted("w-meta/") as mnt:
        path = os.path.join(mnt, "f.txt")
        os.chmod(path, 0o600)
        os.chown(path, 1234, 5678)
        subprocess.run(["touch", "-d", "2020-01-02 03:04:05 UTC", path], check=True)
        os.symlink("f.txt", os.path.join(mnt, "link"))
        assert os.readlink(os.path.join(mnt, "link")) == "f.txt"
    with env.mounted("w-meta/") as mnt:
        st = os.stat(os.path.join(mnt, "f.txt"))
        assert (st.st_mode & 0o777, st.st_uid, st.st_gid) == (0o600, 1234, 5678)
        assert int(st.st_mtime) == 1577934245
        assert os.readlink(os.path.join(mnt, "link")) == "f.txt"
        assert open(os.path.join(mnt, "link"), "rb").read() == b"data"
    assert env.bucket.get_object("w-meta/f.txt").read() == b"data"
    assert env.bucket.head_object("w-meta/link").object_type == "Symlink"
    assert env.bucket.get_symlink("w-meta/link").target_key == "w-meta/f.txt"


def test_user_xattrs_round_trip_and_persist(env):
    env.bucket.put_object("w-xattr/f.txt", b"data")
    with env.mounted("w-xattr/") as mnt:
        path = os.path.join(mnt, "f.txt")
        os.setxattr(path, "user.origin", b"dataset-v2")
        os.setxattr(path, "user.bin", bytes(range(256)))
        assert os.getxattr(path, "user.origin") == b"dataset-v2"
        assert sorted(os.listxattr(path)) == ["user.bin", "user.origin"]
        with pytest.raises(OSError) as info:
            os.setxattr(path, "user.origin", b"x", os.XATTR_CREATE)
        assert info.value.errno == errno.EEXIST
        os.removexattr(path, "user.bin")
        with pytest.raises(OSError) as info:
            os.getxattr(path, "user.bin")
        assert info.value.errno == errno.ENODATA
        with pytest.raises(OSError) as info:
            os.setxattr(path, "trusted.x", b"1")
        assert info.value.errno in (errno.ENOTSUP, errno.EPERM)
        # Namespaces other than user. are not supported, as the docs say: ls -l
        # then stops asking for security.selinux and ACLs on this mount.
        for name in ("security.selinux", "system.posix_acl_access"):
            with pytest.raises(OSError) as info:
                os.getxattr(path, name)
            assert info.value.errno == errno.ENOTSUP, name
        # The attr tools users reach for.
        subprocess.run(["setfattr", "-n", "user.label", "-v", "cats and dogs", path], check=True)
        got = subprocess.run(["getfattr", "-n", "user.label", "--only-values", path], check=True,
                             capture_output=True).stdout
        assert got == b"cats and dogs"
        # OSS holds under 8 KB of user metadata per object: a value that would pass it is
        # ENOSPC (as a full inode's attribute space on a local disk), and nothing changes.
        with pytest.raises(OSError) as info:
            os.setxattr(path, "user.big", os.urandom(6000))
        assert info.value.errno == errno.ENOSPC
        assert "user.big" not in os.listxattr(path)
        os.setxattr(path, "user.fits", os.urandom(4000))
    with env.mounted("w-xattr/") as mnt:
        assert os.getxattr(os.path.join(mnt, "f.txt"), "user.origin") == b"dataset-v2"
        assert os.getxattr(os.path.join(mnt, "f.txt"), "user.label") == b"cats and dogs"
    assert env.bucket.get_object("w-xattr/f.txt").read() == b"data"
    assert "x-oss-meta-xattr" in env.bucket.head_object("w-xattr/f.txt").headers


def test_numpy_save_and_append_to_a_multipart_object(env):
    import numpy as np
    uid = env.bucket.init_multipart_upload("w-np/log.txt").upload_id
    parts = [oss2.models.PartInfo(1, env.bucket.upload_part("w-np/log.txt", uid, 1, b"a" * 102_400).etag),
             oss2.models.PartInfo(2, env.bucket.upload_part("w-np/log.txt", uid, 2, b"tail\n").etag)]
    env.bucket.complete_multipart_upload("w-np/log.txt", uid, parts)
    array = np.arange(300_000, dtype=np.float64).reshape(300, 1000)
    with env.mounted("w-np/") as mnt:
        np.save(os.path.join(mnt, "a.npy"), array)
        assert np.array_equal(np.load(os.path.join(mnt, "a.npy")), array)
        subprocess.run(["bash", "-c", f"echo more >> '{mnt}/log.txt'"], check=True)
    assert env.bucket.get_object("w-np/log.txt").read() == b"a" * 102_400 + b"tail\nmore\n"
    import io
    assert np.array_equal(np.load(io.BytesIO(env.bucket.get_object("w-np/a.npy").read())), array)


def test_no_xattr_answers_enotsup_without_asking_oss(env):
    env.bucket.put_object("w-noxattr/f.txt", b"data")
    with env.mounted("w-noxattr/", "no_xattr") as mnt:
        path = os.path.join(mnt, "f.txt")
        os.stat(path)  # the lookup's requests come before
        before = len(env.requests())
        for _ in range(3):
            with pytest.raises(OSError) as info:
                os.getxattr(path, "user.origin")
            assert info.value.errno == errno.EOPNOTSUPP
        with pytest.raises(OSError) as info:
            os.setxattr(path, "user.origin", b"x")
        assert info.value.errno == errno.EOPNOTSUPP
        assert not any(r["key"] == "w-noxattr/f.txt" and r["op"] in ("headObject", "copyObject")
                       for r in env.requests()[before:])
        assert open(path, "rb").read() == b"data"
