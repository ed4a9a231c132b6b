"""The read side through a real FUSE mount: names, listing, contents, caching
and consistency, read-only mounts, clean shutdown."""
import collections
import contextlib
import ctypes
import errno
import os
import random
import re
import signal
import subprocess
import tempfile
import threading
import time

import oss2
import pytest

from conftest import LIBC, OSSMOUNT, libc_ok, mapped_files, wait_until


def put_all(bucket, items, threads=16):
    items = list(items)
    def worker(chunk):
        for k, v in chunk:
            bucket.put_object(k, v)
    ts = [threading.Thread(target=worker, args=(items[i::threads],)) for i in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()


TREE = {
    "top.txt": b"top level\n",
    "implicit/a.txt": b"only a prefix makes this directory\n",
    "implicit/deeper/b.bin": bytes(range(256)) * 10,
    "marked/": b"",
    "marked/inside.txt": b"marker plus child\n",
    "emptydir/": b"",
    "odd names/with space.txt": b"space\n",
    "odd names/ünïcødé 文件.txt": b"unicode\n",
    "odd names/a+b=c&d.txt": b"plus\n",
}


def test_tree_names_and_contents(env):
    put_all(env.bucket, [("tree/" + k, v) for k, v in TREE.items()], threads=4)
    with env.mounted("tree/") as mnt:
        found = {}
        for dirpath, dirnames, filenames in os.walk(mnt):
            for f in filenames:
                rel = os.path.relpath(os.path.join(dirpath, f), mnt)
                with open(os.path.join(dirpath, f), "rb") as fh:
                    found[rel] = fh.read()
        assert found == {k: v for k, v in TREE.items() if not k.endswith("/")}
        assert os.path.isdir(os.path.join(mnt, "emptydir")) and os.listdir(os.path.join(mnt, "emptydir")) == []
        assert sorted(os.listdir(os.path.join(mnt, "marked"))) == ["inside.txt"]
        st = os.stat(os.path.join(mnt, "implicit/deeper/b.bin"))
        assert st.st_size == 2560 and oct(st.st_mode & 0o777) == oct(0o644)
        find = subprocess.run(["find", mnt, "-type", "f"], capture_output=True, text=True, check=True).stdout.split("\n")
        assert len([x for x in find if x]) == 7
        cmp = subprocess.run(["cat", os.path.join(mnt, "odd names", "a+b=c&d.txt")], capture_output=True, check=True)
        assert cmp.stdout == b"plus\n"
        with pytest.raises(FileNotFoundError):
            os.stat(os.path.join(mnt, "nothing-here"))


def test_ten_thousand_entries_listed_with_pages_not_heads(env):
    put_all(env.bucket, [(f"wide/d/f{i:05d}", b"x" * (i % 7)) for i in range(10_000)])
    with env.mounted("wide/") as mnt:
        before = len(env.requests())
        out = subprocess.run(["ls", "-l", os.path.join(mnt, "d")], capture_output=True, text=True, check=True).stdout
        lines = [l for l in out.splitlines() if not l.startswith("total")]
        assert len(lines) == 10_000
        assert lines[5].split()[4] == "5"  # sizes come from the listing
        made = env.requests()[before:]
        lists = [r for r in made if r["op"] == "listObjectsV2"]
        heads = [r for r in made if r["op"] == "headObject" and r["key"].startswith("wide/d/f")]
        assert heads == [], f"{len(heads)} HEADs for listed entries"
        assert 10 <= len(lists) <= 12, f"{len(lists)} LIST requests"


def test_files_read_by_name_are_looked_up_from_a_listing(env):
    put_all(env.bucket, [(f"ahead/d/f{i:05d}", b"%d" % i) for i in range(3000)])
    with env.mounted("ahead/") as mnt:
        before = len(env.requests())
        for i in range(3000):  # by name, as a data loader does: no readdir
            with open(os.path.join(mnt, "d", f"f{i:05d}"), "rb") as f:
                assert f.read() == b"%d" % i
        made = env.requests()[before:]
        heads = [r for r in made if r["op"] == "headObject"]
        lists = [r for r in made if r["op"] == "listObjectsV2"]
        assert len(heads) <= 50, f"{len(heads)} HEADs for 3000 files"
        assert 2 <= len(lists) <= 8, f"{len(lists)} LIST requests"
    with env.mounted("ahead/", "list_ahead=0") as mnt:
        before = len(env.requests())
        for i in range(20):
            assert open(os.path.join(mnt, "d", f"f{i:05d}"), "rb").read() == b"%d" % i
        made = env.requests()[before:]
        assert len([r for r in made if r["op"] == "headObject" and r["key"].startswith("ahead/d/f")]) == 20


@contextlib.contextmanager
def pinned_in_page_cache(paths):
    """Maps every file and mlock()s the mapping, so the kernel keeps its pages
    cached: the host's proactive reclaim (DAMON pageout, see BENCHMARKS.md) may
    otherwise evict pages between two epochs at any moment, and each evicted page
    is a GET that says nothing about the daemon. Pinning does not hide a daemon
    that drops the cache: an open without keep_cache unmaps and invalidates the
    pages all the same."""
    with mapped_files(paths) as maps:
        for addr, size in maps:
            libc_ok(LIBC.mlock(ctypes.c_void_p(addr), size))
        yield


def test_a_second_epoch_over_listed_files_sends_no_request(env):
    """A data loader's epochs: files found by a listing, opened by name, read whole,
    from several threads. The second epoch (pages pinned in the page cache, within
    attr_timeout) opens, stats and reads every file without one request, though each
    read marks the file's atime stale in the kernel and Python's open() asks for its
    attributes."""
    from concurrent.futures import ThreadPoolExecutor
    samples = {f"s{i:04d}.bin": os.urandom(100 + i) for i in range(600)}
    put_all(env.bucket, [(f"epochs/train/{name}", data) for name, data in samples.items()])
    with env.mounted("epochs/") as mnt:
        names = sorted(os.listdir(os.path.join(mnt, "train")))
        assert names == sorted(samples)

        def epoch():
            def load(name):
                with open(os.path.join(mnt, "train", name), "rb") as f:
                    assert os.fstat(f.fileno()).st_size == len(samples[name])
                    return f.read() == samples[name]
            with ThreadPoolExecutor(8) as pool:
                assert all(pool.map(load, names[::-1]))
        epoch()
        with pinned_in_page_cache([os.path.join(mnt, "train", n) for n in names]):
            before = len(env.requests())
            epoch()
            made = env.requests()[before:]
        assert made == [], f"{len(made)} requests in epoch 2: {collections.Counter(r['op'] for r in made)}"


def inodes_held(mnt):
    """The inodes the daemon holds for the kernel (`ossmount stats --raw`)."""
    r = subprocess.run([str(OSSMOUNT), "stats", mnt, "--raw"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return int(re.search(r"^ossmount_inodes (\d+)", r.stdout, re.M).group(1))


def test_files_the_kernel_forgot_are_opened_again_without_a_head(env):
    """The kernel drops dentries and inodes under memory pressure (here: drop_caches)
    and FORGETs them: the next open of such a file sends no HEAD while its attributes
    are fresh (max_stat_cache_size, like s3fs's stat cache), from 4 threads at once.
    With the cache off each open is one HEAD (list_ahead off in both mounts, so a
    lookup is one HEAD either way)."""
    from concurrent.futures import ThreadPoolExecutor
    samples = {f"f{i:03d}": os.urandom(50 + i) for i in range(200)}
    put_all(env.bucket, [(f"forgot/d/{name}", data) for name, data in samples.items()])
    for options, heads_expected in (("list_ahead=0", 0), ("list_ahead=0,max_stat_cache_size=0", len(samples))):
        with env.mounted("forgot/", options) as mnt:
            d = os.path.join(mnt, "d")
            for name, data in samples.items():
                assert os.stat(os.path.join(d, name)).st_size == len(data)
            assert inodes_held(mnt) > len(samples)
            subprocess.run(["sync"], check=True)
            with open("/proc/sys/vm/drop_caches", "w") as f:
                f.write("3\n")
            assert wait_until(lambda: inodes_held(mnt) < 10, 15), inodes_held(mnt)
            before = len(env.requests())

            def load(name):
                with open(os.path.join(d, name), "rb") as f:
                    return f.read() == samples[name]
            with ThreadPoolExecutor(4) as pool:
                assert all(pool.map(load, sorted(samples, reverse=True)))
            # (The directory itself is looked up again too: not counted.)
            heads = [r for r in env.requests()[before:] if r["op"] == "headObject" and r["key"].startswith("forgot/d/")]
            assert len(heads) == heads_expected, (options, len(heads))


def test_reads_under_faults_come_back_whole(env):
    """Every way a GET can fail (an error status, a reset, a body cut short, a late
    answer) on about one request in eight, while 8 threads read files whole and one
    reads a multi-chunk file sequentially and at random offsets: every read returns
    exactly the object's bytes. A read's GET starts on the FUSE thread and is answered
    from its completion; a failed try goes on through the retrying path."""
    import requests
    from concurrent.futures import ThreadPoolExecutor
    rng = random.Random(5)
    small = {f"s{i:03d}.bin": os.urandom(rng.choice([1, 4096, 100_000, 300_000])) for i in range(200)}
    big = os.urandom(20 << 20)
    put_all(env.bucket, [(f"faulty/{k}", v) for k, v in small.items()] + [("faulty/big.bin", big)])
    admin = f"{env.server.endpoint}/-/osslocal/faults"
    before = len(env.requests())
    with env.mounted("faulty/") as mnt:
        requests.put(admin, data="500=0.03,503=0.03,reset=0.02,truncate=0.03,slow=20ms@0.02").raise_for_status()
        try:
            def load(name):
                with open(os.path.join(mnt, name), "rb") as f:
                    return f.read() == small[name]
            with ThreadPoolExecutor(8) as pool:
                bad = [name for name, ok in zip(small, pool.map(load, small)) if not ok]
            with open(os.path.join(mnt, "big.bin"), "rb") as f:
                # Jumps first (each a small ranged GET), then the whole file (chunks).
                offsets = [rng.randrange(0, len(big) - 4096) for _ in range(100)]
                jumps_bad = [o for o in offsets if os.pread(f.fileno(), 4096, o) != big[o:o + 4096]]
                whole_ok = f.read() == big
        finally:
            requests.put(admin, data="").raise_for_status()
    assert bad == []
    assert whole_ok
    assert jumps_bad == []
    gets = [r for r in env.requests()[before:] if r["method"] == "GET" and r["key"].startswith("faulty/")]
    assert any(r["status"] >= 500 for r in gets), "no fault reached a read: the test proves nothing"


def test_a_listed_executable_keeps_its_mode_from_metadata(env):
    put_all(env.bucket, [(f"exe/a{i:02d}", b"data") for i in range(60)])
    env.bucket.put_object("exe/z.sh", b"#!/bin/sh\necho ran\n", headers={"x-oss-meta-mode": str(0o100755)})
    with env.mounted("exe/") as mnt:
        def heads_for(key):
            return [r for r in env.requests() if r["op"] == "headObject" and r.get("key") == key]
        names = iter(range(60))

        def next_stat_was_listed():
            i = next(names)
            os.stat(os.path.join(mnt, f"a{i:02d}"))
            return not heads_for(f"exe/a{i:02d}")
        # The first lookups ask OSS and start a listing; wait until one is answered from it.
        assert wait_until(next_stat_was_listed, timeout=30, interval=0)
        # z.sh's lookup comes from the same listing (no HEAD), which has no metadata: the
        # kernel asks for its attributes before exec, and gets the mode from OSS.
        assert subprocess.run([os.path.join(mnt, "z.sh")], capture_output=True, check=True).stdout == b"ran\n"
        assert os.stat(os.path.join(mnt, "z.sh")).st_mode & 0o777 == 0o755


@pytest.fixture(scope="module")
def gib(env):
    """A 1 GiB object and the same bytes in a local file."""
    path = os.path.join(env.base, "gib.bin")
    rng = random.Random(7)
    block = rng.randbytes(1 << 20)
    with open(path, "wb") as f:
        for i in range(1024):
            f.write(block[i:] + block[:i])  # every MiB different
    oss2.resumable_upload(env.bucket, "big/gib.bin", path, part_size=64 << 20, num_threads=4,
                          store=oss2.ResumableStore(root=env.base))
    yield path
    os.unlink(path)


def test_one_gib_sequential_and_random_reads(env, gib):
    with env.mounted("big/") as mnt:
        r = subprocess.run(["cmp", gib, os.path.join(mnt, "gib.bin")], capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stdout + r.stderr
        rng = random.Random(11)
        size = os.path.getsize(gib)
        with open(gib, "rb") as src, open(os.path.join(mnt, "gib.bin"), "rb") as dst:
            for _ in range(200):
                off = rng.randrange(0, size - 1)
                n = rng.choice([1, 4096, 65536, 1 << 20])
                src.seek(off)
                dst.seek(off)
                assert dst.read(n) == src.read(n), off


def test_change_seen_after_attr_timeout_not_before(env):
    env.bucket.put_object("ttl/f.txt", b"old")
    with env.mounted("ttl/", "attr_timeout=3,entry_timeout=3") as mnt:
        path = os.path.join(mnt, "f.txt")
        assert os.stat(path).st_size == 3
        changed = time.monotonic()
        env.bucket.put_object("ttl/f.txt", b"new and longer")
        assert os.stat(path).st_size == 3  # still cached
        assert wait_until(lambda: os.stat(path).st_size == 14, timeout=15, interval=0.1)
        assert time.monotonic() - changed >= 2.5
        with open(path, "rb") as f:
            assert f.read() == b"new and longer"


def test_close_to_open_sees_change_at_next_open(env):
    env.bucket.put_object("cto/f.txt", b"version one")
    with env.mounted("cto/", "attr_timeout=3600,entry_timeout=3600,close_to_open") as mnt:
        path = os.path.join(mnt, "f.txt")
        with open(path, "rb") as f:
            assert f.read() == b"version one"
        env.bucket.put_object("cto/f.txt", b"version two, longer")
        with open(path, "rb") as f:
            assert f.read() == b"version two, longer"


def test_replaced_while_open_gives_stale_or_old_bytes_never_a_mix(env):
    old = bytes([1]) * (8 << 20)
    new = bytes([2]) * (8 << 20)
    env.bucket.put_object("swap/f.bin", old)
    with env.mounted("swap/", "direct_io") as mnt:
        with open(os.path.join(mnt, "f.bin"), "rb", buffering=0) as f:
            first = f.read(1 << 20)
            assert first == old[: 1 << 20]
            env.bucket.put_object("swap/f.bin", new)
            try:
                rest = f.read()
            except OSError as e:
                assert e.errno == errno.ESTALE
            else:
                assert rest == old[1 << 20:]


def test_read_only_mount_refuses_writes(env):
    env.bucket.put_object("ro/f.txt", b"x")
    with env.mounted("ro/", "ro") as mnt:
        for action in (lambda: open(os.path.join(mnt, "new.txt"), "w"),
                       lambda: open(os.path.join(mnt, "f.txt"), "a"),
                       lambda: os.mkdir(os.path.join(mnt, "d")),
                       lambda: os.unlink(os.path.join(mnt, "f.txt"))):
            with pytest.raises(OSError) as info:
                action()
            assert info.value.errno == errno.EROFS


def test_sigterm_unmounts_cleanly(env):
    env.bucket.put_object("term/f.txt", b"x")
    mnt = tempfile.mkdtemp(prefix="mnt-", dir=env.base)
    proc = subprocess.Popen(env.mount_args("term/", mnt) + ["-f"], env=env.credentials_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        assert wait_until(lambda: os.path.ismount(mnt))
        assert os.listdir(mnt) == ["f.txt"]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
        assert not os.path.ismount(mnt)
        assert "/" + os.path.basename(mnt) + " " not in open("/proc/mounts").read()
    finally:
        if proc.poll() is None:
            proc.kill()
        subprocess.run(["fusermount3", "-uz", mnt], check=False, stderr=subprocess.DEVNULL)


def test_lazy_unmount_ends_the_daemon(env):
    mnt = tempfile.mkdtemp(prefix="mnt-", dir=env.base)
    proc = subprocess.Popen(env.mount_args("term/", mnt) + ["-f"], env=env.credentials_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_until(lambda: os.path.ismount(mnt))
        subprocess.run(["fusermount3", "-uz", mnt], check=True)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
