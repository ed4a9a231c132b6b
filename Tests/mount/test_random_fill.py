"""Random reads through a real mount and `random_fill`: a jump fetches the aligned
block around it and the daemon stores the rest of the block in the kernel's page
cache, so nearby reads send nothing; the pages stored are never of another object
than the one the file is, and never hide what a writer wrote."""
import contextlib
import ctypes
import os
import random
import threading

from conftest import LIBC, libc_ok, mapped_files, wait_until
from test_cache import fill_cache

MiB = 1 << 20
PAGE = 4096


@contextlib.contextmanager
def mapped(path):
    """The file's mapping, for mincore(): which of its pages the kernel holds (a shared
    file mapping reports the page cache, and mapping it reads nothing)."""
    with mapped_files([path]) as [(addr, _)]:
        def resident(start, end):
            """Indexes of the pages in [start, end) the page cache holds."""
            vec = ctypes.create_string_buffer((end - start + PAGE - 1) // PAGE)
            libc_ok(LIBC.mincore(ctypes.c_void_p(addr + start), end - start, vec))
            return {start // PAGE + i for i, b in enumerate(vec.raw) if b & 1}
        yield resident


def stat(mnt, name):
    """A figure of the mount's metrics, as `ossmount stats` reads them."""
    text = os.getxattr(mnt, "user.ossmount.stats").decode()
    return float(next(line.split()[-1] for line in text.splitlines() if line.startswith(name + " ")))


def gets(env, since, key):
    return [r for r in env.requests()[since:] if r["op"] == "getObject" and r["key"] == key]


def test_a_random_read_fills_its_block_and_reads_near_it_send_nothing(env):
    data = os.urandom(8 * MiB + 1000)
    env.bucket.put_object("fill/blob", data)
    with env.mounted("fill/") as mnt:
        path = os.path.join(mnt, "blob")
        with mapped(path) as resident, open(path, "rb", buffering=0) as f:
            assert not resident(0, len(data))
            since = len(env.requests())
            at = 3 * MiB + 5 * PAGE
            assert os.pread(f.fileno(), PAGE, at) == data[at:at + PAGE]
            made = gets(env, since, "fill/blob")
            assert [r["bytes"] for r in made] == [MiB], made  # the block around it, one GET
            block = set(range(3 * MiB // PAGE, 4 * MiB // PAGE))
            assert wait_until(lambda: resident(3 * MiB, 4 * MiB) == block), sorted(block - resident(3 * MiB, 4 * MiB))
            # Nothing outside the block was read or stored.
            assert not resident(0, 3 * MiB) and not resident(4 * MiB, len(data))
            since = len(env.requests())
            for _ in range(200):
                page = random.randrange(3 * MiB // PAGE, 4 * MiB // PAGE)
                assert os.pread(f.fileno(), PAGE, page * PAGE) == data[page * PAGE:(page + 1) * PAGE]
            assert gets(env, since, "fill/blob") == []
            assert stat(mnt, "ossmount_page_fill_stored_bytes") == MiB - PAGE
            # The last block is short: filled up to the end of the object.
            at = len(data) - 10
            assert os.pread(f.fileno(), PAGE, at) == data[at:]
            assert wait_until(lambda: len(resident(8 * MiB, len(data))) == 1)
            # Off: a random read fetches just its bytes and stores nothing.
    with env.mounted("fill/", "random_fill=0") as mnt:
        path = os.path.join(mnt, "blob")
        with mapped(path) as resident, open(path, "rb", buffering=0) as f:
            since = len(env.requests())
            at = 5 * MiB + 3 * PAGE
            assert os.pread(f.fileno(), PAGE, at) == data[at:at + PAGE]
            assert [r["bytes"] for r in gets(env, since, "fill/blob")] == [PAGE]
            assert resident(0, len(data)) == {at // PAGE}


def test_a_small_file_first_read_at_an_offset_is_filled_whole(env):
    """A file of one chunk (3 MiB) whose first read is near its end, as a reader of a
    footer does: one GET of the object, and then all of its pages are the kernel's, so
    the reads that follow anywhere in it send nothing."""
    data = os.urandom(3 * MiB + 123)
    env.bucket.put_object("fill-small/blob", data)
    with env.mounted("fill-small/") as mnt:
        path = os.path.join(mnt, "blob")
        with mapped(path) as resident, open(path, "rb", buffering=0) as f:
            since = len(env.requests())
            at = len(data) - 8
            assert os.pread(f.fileno(), 8, at) == data[at:]
            assert [r["bytes"] for r in gets(env, since, "fill-small/blob")] == [len(data)]
            pages = set(range((len(data) + PAGE - 1) // PAGE))
            assert wait_until(lambda: resident(0, len(data)) == pages), len(pages - resident(0, len(data)))
            for _ in range(200):
                page = random.randrange(len(pages))
                assert os.pread(f.fileno(), PAGE, page * PAGE) == data[page * PAGE:(page + 1) * PAGE]
            assert [r["bytes"] for r in gets(env, since, "fill-small/blob")] == [len(data)]


def test_random_reads_from_threads_return_the_object_they_opened(env):
    """8 threads read 4 KiB at random offsets of a file that another client replaces
    again and again; each round reopens it (close_to_open) and every read must return
    the version that open saw, never pages filled from the one before."""
    size = 4 * MiB
    versions = []
    with env.mounted("fill-replace/", "close_to_open=1") as mnt:
        path = os.path.join(mnt, "blob")
        for round in range(12):
            data = bytes([round]) * 16 + os.urandom(size - 16)
            versions.append(data)
            env.bucket.put_object("fill-replace/blob", data)
            errors = []

            def reader(seed):
                rng = random.Random(seed)
                with open(path, "rb", buffering=0) as f:
                    version = os.pread(f.fileno(), 16, 0)[0]
                    for _ in range(60):
                        at = rng.randrange(0, size // PAGE) * PAGE
                        got = os.pread(f.fileno(), PAGE, at)
                        if got != versions[version][at:at + PAGE]:
                            errors.append((round, version, at))
                    if version != round:
                        errors.append(("opened", round, version))
            threads = [threading.Thread(target=reader, args=(round * 8 + i,)) for i in range(8)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert errors == []


def test_what_a_writer_wrote_is_read_back_though_a_reader_filled_the_file(env):
    """A reader's jumps fill blocks of a file while another descriptor of the same mount
    overwrites part of each block in place: reads through the writer's descriptor see
    the new bytes (no fill lands over them), and so do a later open and OSS."""
    data = bytearray(os.urandom(4 * MiB))
    env.bucket.put_object("fill-write/blob", bytes(data))
    with env.mounted("fill-write/") as mnt:
        path = os.path.join(mnt, "blob")
        for round in range(5):
            with open(path, "rb", buffering=0) as r:
                for block in range(4):
                    at = block * MiB + (7 + round) * PAGE
                    assert os.pread(r.fileno(), PAGE, at) == data[at:at + PAGE]
            with open(path, "r+b", buffering=0) as w:
                for block in range(4):
                    at = block * MiB + (100 + round * 8) * PAGE
                    new = os.urandom(3 * PAGE)
                    assert os.pwrite(w.fileno(), new, at) == len(new)
                    data[at:at + len(new)] = new
                for block in range(4):
                    at = block * MiB + (99 + round * 8) * PAGE
                    assert os.pread(w.fileno(), 5 * PAGE, at) == data[at:at + 5 * PAGE], (round, block)
            with open(path, "rb") as f:
                assert f.read() == data
            assert env.bucket.get_object("fill-write/blob").read() == data


def test_a_jump_into_a_cached_file_fills_its_block_from_the_cache(env, cache_dir):
    """With cache_dir holding the file (an earlier mount read it), a random read after a
    remount reads its block from the disk, sends no GET, and the kernel gets the block."""
    data = os.urandom(10 * MiB)
    env.bucket.put_object("fill-cached/blob", data)
    options = f"cache_dir={cache_dir},cache_size=256M"
    fill_cache(env, "fill-cached/", options, cache_dir, {"blob": data})
    with env.mounted("fill-cached/", options) as mnt:
        path = os.path.join(mnt, "blob")
        since = len(env.requests())
        with mapped(path) as resident, open(path, "rb", buffering=0) as f:
            at = 9 * MiB - 3 * PAGE  # the block [8 MiB, 9 MiB) is in the cache's second chunk
            assert os.pread(f.fileno(), PAGE, at) == data[at:at + PAGE]
            block = set(range(8 * MiB // PAGE, 9 * MiB // PAGE))
            assert wait_until(lambda: resident(8 * MiB, 9 * MiB) == block)
            for _ in range(100):
                page = random.randrange(8 * MiB // PAGE, 9 * MiB // PAGE)
                assert os.pread(f.fileno(), PAGE, page * PAGE) == data[page * PAGE:(page + 1) * PAGE]
        assert gets(env, since, "fill-cached/blob") == []
