"""The local data cache (`cache_dir`), used as a training job uses it: an epoch
after a remount with the page cache dropped reads every file from the cache
without one GET; a damaged block is detected and fetched again; a replaced
object is never served from the cache; `cache_size` holds on disk while four
readers run; a full cache disk degrades to uncached reads with one warning."""
import contextlib
import os
import subprocess
import tempfile
import threading

from conftest import wait_until


def drop_page_cache():
    subprocess.run(["sync"], check=True)
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


def cache_bytes(directory):
    """Bytes of every file under the cache directory (blocks and blocks being written)."""
    total = 0
    for root, _, files in os.walk(directory):
        for name in files:
            with contextlib.suppress(FileNotFoundError):
                total += os.stat(os.path.join(root, name)).st_size
    return total


def fill_cache(env, prefix, options, cache_dir, files):
    """A mount with `options` reads `files` (name under `prefix` -> bytes) whole, and
    once the cache holds all their blocks (written after they are served) the page
    cache is dropped: what a later mount of the same cache then reads is on disk only."""
    with env.mounted(prefix, options) as mnt:
        assert read_all(mnt, files) == files
        assert wait_until(lambda: cache_bytes(os.path.join(cache_dir, "blocks")) >= sum(map(len, files.values())), 15)
    drop_page_cache()


def gets(env, since, prefix):
    return [r for r in env.requests()[since:] if r["op"] == "getObject" and r["key"].startswith(prefix)]


def read_all(mnt, names):
    out = {}
    for name in names:
        with open(os.path.join(mnt, name), "rb") as f:
            out[name] = f.read()
    return out


def test_an_epoch_after_remount_reads_from_the_cache_without_a_get(env, cache_dir):
    files = {f"train/s{i:03d}.bin": os.urandom(100 << 10) for i in range(150)}
    files["train/shard.bin"] = os.urandom(20 << 20)  # three 8 MiB chunks
    for name, data in files.items():
        env.bucket.put_object("cache-epochs/" + name, data)
    options = f"cache_dir={cache_dir},cache_size=256M"
    since = len(env.requests())
    fill_cache(env, "cache-epochs/", options, cache_dir, files)
    assert len(gets(env, since, "cache-epochs/")) >= len(files)
    with env.mounted("cache-epochs/", options) as mnt:
        since = len(env.requests())
        assert read_all(mnt, files) == files
        assert gets(env, since, "cache-epochs/") == []


def test_random_reads_of_a_cached_file_are_served_from_the_cache(env, cache_dir):
    """Reads at random offsets (4 KiB, a few across a chunk boundary), from four threads,
    of a file the cache holds: every byte right, and not one GET after the remount."""
    data = os.urandom(20 << 20)
    env.bucket.put_object("cache-random/shard.bin", data)
    options = f"cache_dir={cache_dir},cache_size=256M"
    fill_cache(env, "cache-random/", options, cache_dir, {"shard.bin": data})
    with env.mounted("cache-random/", options) as mnt:
        since = len(env.requests())
        offsets = [(8 << 20) - 2048, (16 << 20) - 100, len(data) - 4096] + \
            [int.from_bytes(os.urandom(4), "little") % (len(data) - 4096) for _ in range(400)]
        wrong = []

        def reader(part):
            fd = os.open(os.path.join(mnt, "shard.bin"), os.O_RDONLY)
            try:
                for off in part:
                    if os.pread(fd, 4096, off) != data[off:off + 4096]:
                        wrong.append(off)
            finally:
                os.close(fd)
        threads = [threading.Thread(target=reader, args=(offsets[i::4],)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert wrong == []
        assert gets(env, since, "cache-random/") == []


def test_a_damaged_block_is_fetched_again_and_a_replaced_object_never_served(env, cache_dir):
    a, b = os.urandom(3 << 20), os.urandom(3 << 20)
    env.bucket.put_object("cache-damage/a.bin", a)
    env.bucket.put_object("cache-damage/b.bin", b)
    log = os.path.join(env.base, "cache-damage.log")
    options = f"cache_dir={cache_dir},cache_size=64M,log_file={log}"
    with env.mounted("cache-damage/", options) as mnt:
        assert read_all(mnt, ["a.bin", "b.bin"]) == {"a.bin": a, "b.bin": b}
        blocks = os.path.join(cache_dir, "blocks")
        assert wait_until(lambda: cache_bytes(blocks) >= len(a) + len(b), 15)
    # Flip one byte in the middle of every block of a.bin (found by its bytes).
    damaged = 0
    for root, _, names in os.walk(blocks):
        for name in names:
            path = os.path.join(root, name)
            with open(path, "r+b") as f:
                content = f.read()
                at = content.find(a[:4096])
                if at >= 0:
                    f.seek(at + (1 << 20))
                    f.write(bytes([content[at + (1 << 20)] ^ 0xFF]))
                    damaged += 1
    assert damaged == 1
    new_b = os.urandom(3 << 20)
    env.bucket.put_object("cache-damage/b.bin", new_b)  # replaced: its old blocks must not be served
    drop_page_cache()
    with env.mounted("cache-damage/", options) as mnt:
        since = len(env.requests())
        assert read_all(mnt, ["a.bin", "b.bin"]) == {"a.bin": a, "b.bin": new_b}
        assert len(gets(env, since, "cache-damage/a.bin")) == 1
        assert len(gets(env, since, "cache-damage/b.bin")) == 1
    with open(log) as f:
        assert sum("cache block damaged" in line and "key=cache-damage/a.bin" in line for line in f) == 1


@contextlib.contextmanager
def tmpfs(env, size):
    """A file system of its own (its used blocks are what the cache takes, read at once)."""
    d = tempfile.mkdtemp(prefix="cache-tmpfs-", dir=env.base)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", d], check=True)
    try:
        yield d
    finally:
        subprocess.run(["umount", "-l", d], check=False)


def used_bytes(path):
    st = os.statvfs(path)
    return (st.f_blocks - st.f_bfree) * st.f_frsize


def test_cache_size_holds_on_disk_while_four_readers_run(env):
    files = {f"r{i}.bin": os.urandom(40 << 20) for i in range(4)}
    for name, data in files.items():
        env.bucket.put_object("cache-size/" + name, data)
    limit = 64 << 20
    with tmpfs(env, "256m") as cache_dir, env.mounted("cache-size/", f"cache_dir={cache_dir},cache_size=64M") as mnt:
        peak, done = [0], threading.Event()

        def watch():  # statvfs: one look at the whole file system, blocks being written included
            while not done.is_set():
                peak[0] = max(peak[0], used_bytes(cache_dir))
        watcher = threading.Thread(target=watch)
        watcher.start()
        results = {}
        readers = [threading.Thread(target=lambda n=n: results.update(read_all(mnt, [n]))) for n in files]
        try:
            for t in readers:
                t.start()
            for t in readers:
                t.join(120)
        finally:
            done.set()
            watcher.join()
        assert results == files
        assert 0 < peak[0] <= limit, peak[0]


def test_a_full_cache_disk_degrades_to_uncached_reads_with_one_warning(env):
    with tmpfs(env, "12m") as small:
        files = {f"f{i}.bin": os.urandom(10 << 20) for i in range(3)}
        for name, data in files.items():
            env.bucket.put_object("cache-full/" + name, data)
        log = os.path.join(env.base, "cache-full.log")
        with env.mounted("cache-full/", f"cache_dir={small},cache_size=1G,log_file={log}") as mnt:
            for _ in range(2):
                assert read_all(mnt, files) == files
                drop_page_cache()
        with open(log) as f:
            warnings = [line for line in f if "cache_dir cannot take more blocks" in line]
        assert len(warnings) == 1 and "No space left on device" in warnings[0]


def test_a_cache_dir_in_use_by_another_mount_is_refused(env, cache_dir):
    with env.mounted("cache-two/", f"cache_dir={cache_dir}"):
        mnt = tempfile.mkdtemp(prefix="mnt-", dir=env.base)
        r = subprocess.run(env.mount_args("cache-two/", mnt, f"cache_dir={cache_dir}"), env=env.credentials_env(),
                           capture_output=True, text=True, timeout=60)
        assert r.returncode != 0 and not os.path.ismount(mnt)
        assert r.stderr.strip() == (f"ossmount: cache_dir {cache_dir} is in use by another mount: "
                                    "give each mount its own")
