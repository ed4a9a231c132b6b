"""POSIX behaviour through a real mount, one test per item of the [posix] issue:
plain shell and Python sequences, checked on the mount and in the bucket
(oss2). Sequences that raced before (items 1-3) run 50 times each, and every
iteration's object is checked again after the loop, so a late write that
lands after its syscall returned is caught."""
import errno
import os
import stat
import subprocess
import threading

import oss2
import pytest

LOOPS = 50


def obj(env, key):
    """The object's bytes, or None when there is no such key."""
    try:
        return env.bucket.get_object(key).read()
    except oss2.exceptions.NoSuchKey:
        return None


def exists(env, key):
    return env.bucket.object_exists(key)


def sh(cmd):
    subprocess.run(["bash", "-ec", cmd], check=True)


def test_1_touch_then_truncate_stores_the_size(env):
    with env.mounted("px1/") as mnt:
        for i in range(LOOPS):
            f = os.path.join(mnt, f"f{i}")
            sh(f"touch '{f}'; truncate -s 1024 '{f}'")
            assert os.stat(f).st_size == 1024
            assert obj(env, f"px1/f{i}") == bytes(1024)
        os.sync()
    for i in range(LOOPS):
        assert obj(env, f"px1/f{i}") == bytes(1024), i


def test_2_touch_utime_rm_leaves_nothing(env):
    with env.mounted("px2/") as mnt:
        for i in range(LOOPS):
            f = os.path.join(mnt, f"f{i}")
            sh(f"touch '{f}'; touch -d @1600000000 '{f}'; rm '{f}'")
            assert not os.path.exists(f)
            # touch followed at once by utime from Python.
            g = os.path.join(mnt, f"g{i}")
            sh(f"touch '{g}'")
            os.utime(g, (1500000000, 1500000000))
            assert os.stat(g).st_mtime == 1500000000
        assert sorted(os.listdir(mnt)) == sorted(f"g{i}" for i in range(LOOPS))
    for i in range(LOOPS):
        assert not exists(env, f"px2/f{i}"), i
        assert env.bucket.head_object(f"px2/g{i}").headers["x-oss-meta-mtime"].split(".")[0] == "1500000000"


def test_3_create_write_close_unlink_at_once(env):
    with env.mounted("px3/") as mnt:
        for i in range(LOOPS):
            f = os.path.join(mnt, f"f{i}")
            fd = os.open(f, os.O_CREAT | os.O_WRONLY, 0o644)
            os.write(fd, b"data %d" % i)
            os.close(fd)
            os.unlink(f)
            assert not os.path.exists(f)
            # and create-close-rename
            fd = os.open(f, os.O_CREAT | os.O_WRONLY, 0o644)
            os.write(fd, b"moved %d" % i)
            os.close(fd)
            os.rename(f, f + ".done")
            assert open(f + ".done", "rb").read() == b"moved %d" % i
        assert sorted(os.listdir(mnt)) == sorted(f"f{i}.done" for i in range(LOOPS))
    for i in range(LOOPS):
        assert not exists(env, f"px3/f{i}"), i
        assert obj(env, f"px3/f{i}.done") == b"moved %d" % i


def test_4_unlink_and_rename_of_a_file_open_for_writing(env):
    with env.mounted("px4/") as mnt:
        f = os.path.join(mnt, "gone")
        with open(f, "wb") as out:
            out.write(b"before")
            out.flush()
            os.unlink(f)
            assert not os.path.exists(f)
            out.write(b" after")
        assert not os.path.exists(f)
        g = os.path.join(mnt, "old")
        with open(g, "wb") as out:
            out.write(b"first ")
            out.flush()
            os.rename(g, os.path.join(mnt, "new"))
            out.write(b"second")
        assert open(os.path.join(mnt, "new"), "rb").read() == b"first second"
        assert not os.path.exists(g)
        # An existing object edited in place, renamed while open.
        env.bucket.put_object("px4/edit", b"0123456789")
        h = os.path.join(mnt, "edit")
        with open(h, "r+b") as out:
            out.seek(2)
            out.write(b"ab")
            out.flush()
            os.rename(h, os.path.join(mnt, "edited"))
            out.write(b"cd")
        assert open(os.path.join(mnt, "edited"), "rb").read() == b"01abcd6789"
    assert not exists(env, "px4/gone")
    assert not exists(env, "px4/old")
    assert obj(env, "px4/new") == b"first second"
    assert not exists(env, "px4/edit")
    assert obj(env, "px4/edited") == b"01abcd6789"


def test_5_reading_through_a_descriptor_opened_before_unlink(env):
    data = os.urandom(300_000)
    env.bucket.put_object("px5/f", data)
    env.bucket.put_object("px5/g", data)
    with env.mounted("px5/") as mnt:
        f = os.path.join(mnt, "f")
        with open(f, "rb") as reader:
            assert reader.read(10) == data[:10]
            os.unlink(f)
            assert not os.path.exists(f)
            assert "f" not in os.listdir(mnt)
            assert reader.read() == data[10:]
        g = os.path.join(mnt, "g")
        with open(g, "rb") as reader:
            os.rename(g, os.path.join(mnt, "h"))
            assert reader.read() == data
    assert not exists(env, "px5/f")
    assert not exists(env, "px5/g")
    assert obj(env, "px5/h") == data


def test_6_open_o_trunc_without_a_write(env):
    env.bucket.put_object("px6/f", b"x" * 5000)
    with env.mounted("px6/") as mnt:
        f = os.path.join(mnt, "f")
        assert os.stat(f).st_size == 5000
        fd = os.open(f, os.O_WRONLY | os.O_TRUNC)
        assert os.stat(f).st_size == 0
        assert os.fstat(fd).st_size == 0
        os.close(fd)
        assert os.stat(f).st_size == 0
        assert open(f, "rb").read() == b""
    assert obj(env, "px6/f") == b""


def test_7_reading_while_another_descriptor_has_a_pending_ftruncate(env):
    env.bucket.put_object("px7/f", b"y" * 4000)
    with env.mounted("px7/") as mnt:
        f = os.path.join(mnt, "f")
        fd = os.open(f, os.O_RDWR)
        os.ftruncate(fd, 10000)
        # Another process reads: it sees the file as this mount has it.
        out = subprocess.run(["cat", f], capture_output=True, check=True).stdout
        assert out == b"y" * 4000 + bytes(6000)
        os.ftruncate(fd, 100)
        with open(f, "rb") as r:
            assert r.read() == b"y" * 100
        os.close(fd)
        assert open(f, "rb").read() == b"y" * 100
    assert obj(env, "px7/f") == b"y" * 100


def test_8_truncate_by_path_and_mknod(env):
    env.bucket.put_object("px8/f", b"z" * 3000)
    with env.mounted("px8/") as mnt:
        f = os.path.join(mnt, "f")
        os.truncate(f, 1000)
        assert os.stat(f).st_size == 1000
        assert obj(env, "px8/f") == b"z" * 1000
        os.truncate(f, 5000)
        assert os.stat(f).st_size == 5000
        assert obj(env, "px8/f") == b"z" * 1000 + bytes(4000)
        # Past OSS's largest object (10,000 parts of 5 GiB, 48.8 TiB): refused at once.
        for how in ("path", "descriptor"):
            with pytest.raises(OSError) as info:
                if how == "path":
                    os.truncate(f, 49 << 40)
                else:
                    with open(f, "r+b") as d:
                        os.ftruncate(d.fileno(), 49 << 40)
            assert info.value.errno == errno.EFBIG, how
        assert os.stat(f).st_size == 5000
        assert obj(env, "px8/f") == b"z" * 1000 + bytes(4000)
        n = os.path.join(mnt, "node")
        os.mknod(n, 0o640 | stat.S_IFREG)
        st = os.stat(n)
        assert stat.S_ISREG(st.st_mode) and st.st_size == 0 and stat.S_IMODE(st.st_mode) == 0o640
        with pytest.raises(OSError) as info:
            os.mknod(os.path.join(mnt, "fifo"), 0o644 | stat.S_IFIFO)
        assert info.value.errno in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP)
    assert obj(env, "px8/node") == b""
    assert env.bucket.head_object("px8/node").headers["x-oss-meta-mode"] == str(0o640)
    assert not exists(env, "px8/fifo")


def test_8b_names_past_the_longest_key_get_enametoolong(env):
    """OSS keys are at most 1023 bytes (osslocal refuses longer ones as OSS does): a
    name that would pass that is "File name too long", not an I/O error."""
    levels = ["d" * 200] * 4
    with env.mounted("pxk/") as mnt:
        deep = os.path.join(mnt, *levels)
        os.makedirs(deep)
        fits = "f" * (1023 - len("pxk/") - 4 * 201)
        with open(os.path.join(deep, fits), "wb") as f:
            f.write(b"ok")
        assert obj(env, "pxk/" + "/".join(levels) + "/" + fits) == b"ok"
        for op in (lambda p: open(p, "wb").close(), os.mkdir, os.stat):
            with pytest.raises(OSError) as info:
                op(os.path.join(deep, fits + "x"))
            assert info.value.errno == errno.ENAMETOOLONG, op
        # A directory's marker is its key and a "/": a name as long as `fits` is one too many.
        r = subprocess.run(["mkdir", "-p", os.path.join(deep, "x" * len(fits), "y")], capture_output=True, text=True)
        assert r.returncode != 0 and "File name too long" in r.stderr, r.stderr
    # OSS refuses keys that start with a backslash: at the top of a whole-bucket mount
    # such a name is EINVAL, one level down it is an ordinary key.
    with env.mounted("") as mnt:
        with pytest.raises(OSError) as info:
            open(os.path.join(mnt, "\\top"), "wb")
        assert info.value.errno == errno.EINVAL
        with open(os.path.join(mnt, "pxk", "\\inner"), "wb") as f:
            f.write(b"in")
    assert obj(env, "pxk/\\inner") == b"in"
    env.bucket.delete_object("pxk/\\inner")
    assert sorted(o.key for o in oss2.ObjectIterator(env.bucket, prefix="pxk/")) == [
        "pxk/" + "/".join(levels[:i]) + "/" for i in range(1, 5)] + ["pxk/" + "/".join(levels) + "/" + fits]


def test_8c_names_that_are_not_utf8_are_refused_not_merged(env):
    """OSS keys are UTF-8. Names in another encoding (an old Latin-1 tarball) used to be
    repaired to U+FFFD, so b"caf\xe9" and b"caf\xe8" were one key and the second write
    replaced the first; now each is EILSEQ and nothing is stored under them."""
    with env.mounted("pxu/") as mnt:
        m = mnt.encode()
        with open(m + b"/ok", "wb") as f:
            f.write(b"kept")
        for name in (b"caf\xe9", b"caf\xe8", b"\xff\xfe"):
            for op in (lambda p: open(p, "wb"), os.mkdir, os.stat, lambda p: os.rename(m + b"/ok", p),
                       lambda p: os.symlink(b"ok", p), lambda p: os.symlink(p, m + b"/link")):
                with pytest.raises(OSError) as info:
                    op(m + b"/" + name)
                assert info.value.errno == errno.EILSEQ, (name, op)
        assert os.listdir(m) == [b"ok"]
        assert open(m + b"/ok", "rb").read() == b"kept"
        r = subprocess.run(["touch", m + b"/caf\xe9"], capture_output=True)
        assert r.returncode != 0 and b"Invalid or incomplete multibyte" in r.stderr, r.stderr
    assert [o.key for o in oss2.ObjectIterator(env.bucket, prefix="pxu/")] == ["pxu/ok"]


def test_9_symlink_to_a_missing_target(env):
    with env.mounted("px9/") as mnt:
        sub = os.path.join(mnt, "d")
        os.mkdir(sub)
        link = os.path.join(sub, "link")
        os.symlink("missing-target", link)
        assert os.readlink(link) == "missing-target"
        assert stat.S_ISLNK(os.lstat(link).st_mode)
        assert not os.path.exists(link)  # follows the link: the target is missing
        assert os.listdir(sub) == ["link"]
        os.unlink(link)
        os.rmdir(sub)
        # rm -r of a directory holding a dangling link
        os.mkdir(sub)
        os.symlink("nowhere", link)
        sh(f"rm -r '{sub}'")
        assert not os.path.exists(sub)
    assert [o.key for o in oss2.ObjectIteratorV2(env.bucket, prefix="px9/")] == []
    # Absolute targets read back as written, also on a whole-bucket mount, and after the
    # link's directory is renamed.
    with env.mounted("") as mnt:
        sub = os.path.join(mnt, "px9", "abs", "deeper")
        os.makedirs(sub)
        targets = ["/etc/hosts", "/", "../rel", "/tmp/../x", "../../../../above-the-bucket"]
        for i, target in enumerate(targets):
            os.symlink(target, os.path.join(sub, f"l{i}"))
        os.rename(os.path.join(mnt, "px9", "abs"), os.path.join(mnt, "px9", "moved"))
        moved = os.path.join(mnt, "px9", "moved", "deeper")
        assert [os.readlink(os.path.join(moved, f"l{i}")) for i in range(len(targets))] == targets
        assert open(os.path.join(moved, "l0")).read() == open("/etc/hosts").read()
        sh(f"rm -r '{os.path.join(mnt, 'px9')}'")
    # On a prefix mount a target above the prefix reads back as written (it was shown as
    # the bare key, which resolved inside the mount), and keeps its text when renamed.
    with env.mounted("px9/") as mnt:
        os.mkdir(os.path.join(mnt, "d"))
        os.symlink("../outside/f", os.path.join(mnt, "up"))
        assert os.readlink(os.path.join(mnt, "up")) == "../outside/f"
        os.rename(os.path.join(mnt, "up"), os.path.join(mnt, "d", "up"))
        assert os.readlink(os.path.join(mnt, "d", "up")) == "../outside/f"
        os.unlink(os.path.join(mnt, "d", "up"))
        os.rmdir(os.path.join(mnt, "d"))


def test_10_one_name_length_rule(env):
    long_name = "n" * 256
    ok_name = "m" * 255
    env.bucket.put_object("px10/" + long_name, b"long")
    env.bucket.put_object("px10/" + ok_name, b"ok")
    with env.mounted("px10/") as mnt:
        assert os.statvfs(mnt).f_namemax == 255
        assert os.listdir(mnt) == [ok_name]
        with pytest.raises(OSError) as info:
            os.stat(os.path.join(mnt, long_name))
        assert info.value.errno == errno.ENAMETOOLONG
        with pytest.raises(OSError) as info:
            open(os.path.join(mnt, long_name), "wb")
        assert info.value.errno == errno.ENAMETOOLONG
        assert open(os.path.join(mnt, ok_name), "rb").read() == b"ok"
        os.unlink(os.path.join(mnt, ok_name))
    assert not exists(env, "px10/" + ok_name)


def test_11_times(env):
    env.bucket.put_object("px11/d/", b"")
    with env.mounted("px11/") as mnt:
        f = os.path.join(mnt, "f")
        with open(f, "wb") as out:
            out.write(b"a")
        os.utime(f, ns=(1_500_000_000_000_000_007, 1_600_000_000_123_456_789))
        st = os.stat(f)
        assert st.st_mtime_ns == 1_600_000_000_123_456_789
        assert st.st_atime_ns == 1_500_000_000_000_000_007
        assert st.st_ctime > 1_700_000_000  # the utime changed the inode now
        before = os.stat(mnt).st_mtime_ns
        open(os.path.join(mnt, "new-entry"), "wb").close()
        assert os.stat(mnt).st_mtime_ns > before  # a directory's mtime moves with its entries
        sh(f"echo more >> '{f}'")
        st2 = os.stat(f)
        assert st2.st_mtime > 1_600_000_001  # >> advanced mtime
        assert st2.st_ctime >= st2.st_mtime - 1
        d = os.stat(os.path.join(mnt, "d"))
        assert d.st_mtime > 1_000_000_000  # from the marker, never 1970
        implicit = os.path.join(mnt, "i")
        env.bucket.put_object("px11/i/x", b"")
        assert os.stat(implicit).st_mtime > 1_000_000_000
    head = env.bucket.head_object("px11/f")
    assert int(head.headers["x-oss-meta-mtime"].split(".")[0]) > 1_600_000_001
    assert head.headers["x-oss-meta-atime"] == "1500000000.000000007"
    assert int(head.headers["x-oss-meta-ctime"].split(".")[0]) > 1_700_000_000
    env.bucket.put_object("px11/ns", b"", headers={"x-oss-meta-mtime": "1600000000.5"})
    with env.mounted("px11/") as mnt:
        assert os.stat(os.path.join(mnt, "ns")).st_mtime_ns == 1_600_000_000_500_000_000
        g = os.path.join(mnt, "g")
        open(g, "wb").close()
        os.utime(g, ns=(1_700_000_000_000_000_001, 1_700_000_000_000_000_001))
    with env.mounted("px11/", "list_ahead=0") as mnt:
        st = os.stat(os.path.join(mnt, "g"))
        assert st.st_mtime_ns == 1_700_000_000_000_000_001 and st.st_atime_ns == 1_700_000_000_000_000_001


def test_12_no_page_cache_mix_after_a_replace(env):
    size = 256 << 10
    with env.mounted("px12/") as mnt:
        f = os.path.join(mnt, "f")
        for i in range(20):
            a = bytes([65 + i % 26]) * size
            env.bucket.put_object("px12/f", a)
            os.listdir(mnt)  # the listing sees the new ETag
            with open(f, "rb") as r:
                got = r.read()
            assert got == a, i


def test_13_dot_components_and_a_file_beside_a_directory(env):
    for key in ("px13/./s", "px13/q/../r", "px13/u/.", "px13/a", "px13/a/child"):
        env.bucket.put_object(key, b"k")
    with env.mounted("px13/") as mnt:
        names = os.listdir(mnt)
        assert names.count(".") == 0 and names.count("..") == 0
        assert len(names) == len(set(names))
        assert stat.S_ISREG(os.stat(os.path.join(mnt, "a")).st_mode)
        out = subprocess.run(["ls", "-a", mnt], capture_output=True, text=True, check=True).stdout.split()
        assert out.count(".") == 1 and out.count("..") == 1
    with env.mounted("px13/") as mnt:  # the other order: listing first, then lookup
        assert stat.S_ISREG(os.stat(os.path.join(mnt, "a")).st_mode)


def test_14_content_type_from_the_name(env):
    with env.mounted("px14/") as mnt:
        for name in ("page.html", "data.json", "img.png", "notes.txt", "blob"):
            with open(os.path.join(mnt, name), "wb") as out:
                out.write(b"x")
    assert env.bucket.head_object("px14/page.html").content_type == "text/html"
    assert env.bucket.head_object("px14/data.json").content_type == "application/json"
    assert env.bucket.head_object("px14/img.png").content_type == "image/png"
    assert env.bucket.head_object("px14/notes.txt").content_type == "text/plain"
    assert env.bucket.head_object("px14/blob").content_type == "application/octet-stream"


def test_15_listings_without_readdirplus_and_partial_pages(env):
    keys = [f"px15/f{i:04d}" for i in range(2500)]
    for k in keys[:5]:
        env.bucket.put_object(k, b"k")
    # The rest without bodies worth sending: one parallel pass.
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda k: env.bucket.put_object(k, b""), keys[5:]))
    for options in ("readdirplus=false", ""):
        with env.mounted("px15/", options) as mnt:
            for _ in range(3):
                names = os.listdir(mnt)
                assert sorted(names) == [k[len("px15/"):] for k in keys]
            # Entries listed stay usable: every one can be stat'ed and the first ones read.
            with os.scandir(mnt) as it:
                for e in it:
                    assert e.stat().st_size == (1 if e.name < "f0005" else 0)
            assert open(os.path.join(mnt, "f0000"), "rb").read() == b"k"


def test_16_seekable_copy_is_bounded(env):
    with env.mounted("px16/", "upload_buffer_size=1M,seekable_max=2M") as mnt:
        f = os.path.join(mnt, "ckpt")
        fd = os.open(f, os.O_CREAT | os.O_WRONLY)
        os.write(fd, os.urandom(4 << 20))  # parts past 2 MiB are not kept
        with pytest.raises(OSError) as info:
            os.pwrite(fd, b"header", 0)
        assert info.value.errno in (errno.ENOTSUP, errno.EOPNOTSUPP)
        os.close(fd)
        g = os.path.join(mnt, "small")  # within the bound a seek back still works
        fd = os.open(g, os.O_CREAT | os.O_WRONLY)
        data = bytearray(os.urandom((1 << 20) + 100))
        os.write(fd, bytes(data))
        os.pwrite(fd, b"header", 0)
        os.close(fd)
        data[:6] = b"header"
    assert obj(env, "px16/small") == bytes(data)
    cfg = subprocess.run(env.mount_args("px16/", "/nonexistent") + ["--print-config"], env=env.credentials_env(),
                         capture_output=True, text=True, timeout=30)
    assert "seekable_max=auto" in cfg.stdout


def test_17_fstat_of_a_new_file_with_attr_timeout_0(env):
    src = os.path.join(env.base, "px17.bin")
    data = os.urandom(3 << 20)
    with open(src, "wb") as f:
        f.write(data)
    with env.mounted("px17/", "attr_timeout=0") as mnt:
        subprocess.run(["cp", src, os.path.join(mnt, "big.bin")], check=True)
        fd = os.open(os.path.join(mnt, "n"), os.O_CREAT | os.O_WRONLY)
        os.write(fd, b"abc")
        assert os.fstat(fd).st_size == 3
        os.close(fd)
    assert obj(env, "px17/big.bin") == data


def test_18_chmod_then_touch_on_a_just_written_file(env):
    with env.mounted("px18/") as mnt:
        for i in range(10):
            f = os.path.join(mnt, f"f{i}")
            sh(f"echo data > '{f}'; chmod 640 '{f}'; touch -d @1600000000 '{f}'")
            st = os.stat(f)
            assert stat.S_IMODE(st.st_mode) == 0o640 and st.st_mtime == 1600000000
    for i in range(10):
        head = env.bucket.head_object(f"px18/f{i}").headers
        assert (head["x-oss-meta-mode"], head["x-oss-meta-mtime"]) == (str(0o640), "1600000000"), i
    # A fresh mount with exact lookups (a lookup answered from list_ahead's listing has no
    # x-oss-meta-*: docs/SEMANTICS.md).
    with env.mounted("px18/", "list_ahead=0") as mnt:
        for i in range(10):
            st = os.stat(os.path.join(mnt, f"f{i}"))
            assert stat.S_IMODE(st.st_mode) == 0o640 and st.st_mtime == 1600000000, i


def test_threads_write_and_remove_one_name(env):
    """Several threads create, write, close and unlink the same two names: every
    open succeeds (one that reaches a file unlinked after the kernel looked its
    name up opens that orphan, as on a local disk, not ESTALE), and when they
    stop, the mount and the bucket agree on what exists."""
    with env.mounted("pxt/") as mnt:
        errors = []

        def worker(t):
            try:
                for i in range(150):
                    f = os.path.join(mnt, f"n{(t + i) % 2}")
                    with open(f, "wb") as out:
                        out.write(b"%d-%d" % (t, i))
                    if i % 2 == t % 2:
                        try:
                            os.unlink(f)
                        except FileNotFoundError:
                            pass
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(e)

        threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        seen = {n: open(os.path.join(mnt, n), "rb").read() for n in sorted(os.listdir(mnt))}
    stored = {o.key[len("pxt/"):]: obj(env, o.key) for o in oss2.ObjectIteratorV2(env.bucket, prefix="pxt/")}
    assert seen == stored


def test_names_are_bytes_nfc_and_nfd_are_two_files(env):
    """Linux names are bytes and so are OSS keys: "café" written composed (NFC) and
    decomposed (NFD) are two files and two objects, through every path that takes a
    name (create, lookup, list, rename, unlink)."""
    import unicodedata
    nfc, nfd = unicodedata.normalize("NFC", "café"), unicodedata.normalize("NFD", "café")
    with env.mounted("pxnf/") as mnt:
        with open(os.path.join(mnt, nfc), "w") as f:
            f.write("composed")
        assert not os.path.exists(os.path.join(mnt, nfd))
        with open(os.path.join(mnt, nfd), "w") as f:
            f.write("decomposed")
        assert sorted(n.encode() for n in os.listdir(mnt)) == sorted([nfc.encode(), nfd.encode()])
        assert open(os.path.join(mnt, nfc)).read() == "composed"
        assert open(os.path.join(mnt, nfd)).read() == "decomposed"
        os.mkdir(os.path.join(mnt, "d" + nfd))
        os.rename(os.path.join(mnt, nfd), os.path.join(mnt, "d" + nfd, nfc))
        os.unlink(os.path.join(mnt, nfc))
        assert os.listdir(mnt) == ["d" + nfd]
        assert open(os.path.join(mnt, "d" + nfd, nfc)).read() == "decomposed"
    assert obj(env, "pxnf/" + nfc) is None and obj(env, "pxnf/" + nfd) is None
    assert obj(env, f"pxnf/d{nfd}/{nfc}") == b"decomposed"
