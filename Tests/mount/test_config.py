"""The PAI presets users bring mount and behave as named, and the mount-helper
forms work: `mount -t fuse.ossmount` and an /etc/fstab line (`mount -a -T`)."""
import errno
import os
import subprocess
import tempfile
import time

import pytest

from conftest import BUCKET, OSSMOUNT, REGION, ROOT, wait_until

PRESETS = ROOT / "Configs" / "presets"


def preset(name):
    return ["--config", str(PRESETS / f"{name}.json")]


def mounted_with(env, prefix, extra_args):
    """Mounts with extra command-line arguments; returns the mountpoint."""
    mnt = tempfile.mkdtemp(prefix="mnt-", dir=env.base)
    r = subprocess.run(env.mount_args(prefix, mnt) + extra_args, env=env.credentials_env(), capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return mnt


def unmount(mnt):
    subprocess.run(["fusermount3", "-u", mnt], check=False)
    assert wait_until(lambda: not os.path.ismount(mnt))


def test_static_preset_is_read_only_and_caches_for_long(env):
    env.bucket.put_object("p-static/f.txt", b"old")
    mnt = mounted_with(env, "p-static/", preset("static-read-only"))
    try:
        path = os.path.join(mnt, "f.txt")
        assert os.stat(path).st_size == 3
        with pytest.raises(OSError) as info:
            open(os.path.join(mnt, "new.txt"), "w")
        assert info.value.errno == errno.EROFS
        with pytest.raises(FileNotFoundError):
            os.stat(os.path.join(mnt, "later.txt"))
        env.bucket.put_object("p-static/f.txt", b"new and longer")
        env.bucket.put_object("p-static/later.txt", b"x")
        time.sleep(1.5)  # well inside the preset's 7200 s: nothing may change
        assert os.stat(path).st_size == 3
        with pytest.raises(FileNotFoundError):  # negative_timeout=7200 remembers the miss
            os.stat(os.path.join(mnt, "later.txt"))
    finally:
        unmount(mnt)


@pytest.mark.parametrize("name", ["fast-read-write", "incremental-read-write"])
def test_fast_presets_see_new_files_at_once_and_changes_within_seconds(env, name):
    prefix = f"p-{name}/"
    env.bucket.put_object(prefix + "f.txt", b"old")
    mnt = mounted_with(env, prefix, preset(name))
    try:
        path = os.path.join(mnt, "f.txt")
        assert os.stat(path).st_size == 3
        with pytest.raises(FileNotFoundError):
            os.stat(os.path.join(mnt, "new.txt"))
        env.bucket.put_object(prefix + "new.txt", b"n")
        assert os.stat(os.path.join(mnt, "new.txt")).st_size == 1  # negative_timeout=0
        env.bucket.put_object(prefix + "f.txt", b"new and longer")
        assert wait_until(lambda: os.stat(path).st_size == 14, timeout=10, interval=0.1)  # attr_timeout=3
    finally:
        unmount(mnt)


def test_consistent_preset_sees_every_change_at_once(env):
    env.bucket.put_object("p-consistent/f.txt", b"one")
    mnt = mounted_with(env, "p-consistent/", preset("consistent-read-write"))
    try:
        path = os.path.join(mnt, "f.txt")
        assert os.stat(path).st_size == 3
        env.bucket.put_object("p-consistent/f.txt", b"three")
        assert os.stat(path).st_size == 5
        with open(path, "rb") as f:
            assert f.read() == b"three"
    finally:
        unmount(mnt)


def test_command_line_options_override_the_config_file(env):
    r = subprocess.run([str(OSSMOUNT), BUCKET, "/nonexistent"] + preset("static-read-only")
                       + ["-o", "attr_timeout=5", "--print-config"], capture_output=True, text=True)
    assert r.returncode == 0
    lines = dict(l.split("=", 1) for l in r.stdout.splitlines())
    assert lines["attr_timeout"] == "5.0" and lines["entry_timeout"] == "7200.0" and lines["ro"] == "true"
    assert "no_symlink has no effect" in r.stderr


INSTALLED = "/usr/local/bin/ossmount"


@pytest.fixture
def on_path(env):
    """`ossmount` in /usr/local/bin (mount(8) gives its helpers a fixed PATH), as
    scripts/install.sh puts it, plus a passwd file: fstab mounts get no environment."""
    created = False
    if os.path.lexists(INSTALLED):
        assert os.path.realpath(INSTALLED) == os.path.realpath(OSSMOUNT), \
            f"{INSTALLED} is another ossmount; remove it to run this test"
    else:
        os.symlink(OSSMOUNT, INSTALLED)
        created = True
    passwd = os.path.join(env.base, "passwd-ossfs")
    with open(passwd, "w") as f:
        f.write(f"{BUCKET}:{env.server.access_key_id}:{env.server.secret}\n")
    os.chmod(passwd, 0o600)
    plain = {k: v for k, v in os.environ.items() if not k.startswith("OSS_ACCESS_KEY")}
    yield plain, passwd
    if created:
        os.unlink(INSTALLED)


def test_mount_helper_form(env, on_path):
    environ, passwd = on_path
    env.bucket.put_object("helper/f.txt", b"via mount -t")
    mnt = tempfile.mkdtemp(prefix="mnt-", dir=env.base)
    opts = f"endpoint={env.server.endpoint},region={REGION},passwd_file={passwd},ro"
    r = subprocess.run(["mount", "-t", "fuse.ossmount", f"{BUCKET}:/helper", mnt, "-o", opts], env=environ,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    try:
        with open(os.path.join(mnt, "f.txt"), "rb") as f:
            assert f.read() == b"via mount -t"
    finally:
        subprocess.run(["umount", mnt], check=False)
        assert wait_until(lambda: not os.path.ismount(mnt))


def test_fstab_line_with_netdev(env, on_path):
    environ, passwd = on_path
    env.bucket.put_object("fstab/f.txt", b"via fstab")
    mnt = tempfile.mkdtemp(prefix="mnt-", dir=env.base)
    fstab = os.path.join(env.base, "fstab")
    with open(fstab, "w") as f:
        f.write(f"{BUCKET}:/fstab {mnt} fuse.ossmount _netdev,ro,endpoint={env.server.endpoint},"
                f"region={REGION},passwd_file={passwd},attr_timeout=7200 0 0\n")
    r = subprocess.run(["mount", "-a", "-T", fstab], env=environ, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    try:
        assert os.path.ismount(mnt)
        with open(os.path.join(mnt, "f.txt"), "rb") as f:
            assert f.read() == b"via fstab"
    finally:
        subprocess.run(["umount", mnt], check=False)
        assert wait_until(lambda: not os.path.ismount(mnt))


def run_mount(env, args, timeout=60):
    return subprocess.run([str(OSSMOUNT)] + args, env=env.credentials_env(), capture_output=True, text=True,
                          timeout=timeout)


def test_ossfs2_command_form_and_flag_file_mount(env):
    """An ossfs 2.0 user swaps the binary name and nothing else: `mount MNT
    --oss_bucket=... --name=value` and `-c FILE` of --name=value lines."""
    env.bucket.put_object("o2/data/a.txt", b"from ossfs2 form")
    mnt = tempfile.mkdtemp(prefix="mnt-", dir=env.base)
    conf = os.path.join(env.base, "ossfs2.conf")
    with open(conf, "w") as f:
        f.write(f"# as ossfs 2.0 reads it\n--oss_endpoint={env.server.endpoint}\n--oss_bucket={BUCKET}\n"
                f"--oss_region={REGION}\n--oss_bucket_prefix=o2/data\n--attr_timeout=7200\n"
                "--fuse_threads=32\n--memory_data_cache_size=1G\n--ro=true\n")
    r = run_mount(env, ["mount", mnt, "-c", conf, "--prefetch_concurrency_per_file=16"])
    assert r.returncode == 0, r.stderr
    try:
        assert "memory_data_cache_size has no effect" in r.stderr  # one warning line, named
        assert len([l for l in r.stderr.splitlines() if "warning" in l]) == 1
        with open(os.path.join(mnt, "a.txt")) as f:
            assert f.read() == "from ossfs2 form"
        with pytest.raises(OSError) as info:
            open(os.path.join(mnt, "b.txt"), "w")
        assert info.value.errno == errno.EROFS
    finally:
        unmount(mnt)
    # All on the command line, as ossfs2 mount takes it.
    r = run_mount(env, ["mount", mnt, f"--oss_endpoint={env.server.endpoint}", f"--oss_bucket={BUCKET}",
                        f"--oss_region={REGION}", "--oss_bucket_prefix=o2/", "--upload_buffer_size=8388608"])
    assert r.returncode == 0, r.stderr
    try:
        assert os.listdir(os.path.join(mnt, "data")) == ["a.txt"]
    finally:
        unmount(mnt)


def test_peer_options_warn_and_unknown_ones_fail(env):
    mnt = tempfile.mkdtemp(prefix="mnt-", dir=env.base)
    # ossfs 1.x and JindoFuse flags from real configurations: mounted, each one ossmount
    # does not do named once (max_stat_cache_size is ossmount's own).
    r = run_mount(env, env.mount_args("", mnt, "max_stat_cache_size=0,ensure_diskfree=1024,del_cache,parallel_count=8,"
                                               "dbglevel=info,jindo_attr_timeout=3,fs.oss.download.thread.concurrency=16")[1:])
    assert r.returncode == 0, r.stderr
    try:
        warned = [l for l in r.stderr.splitlines() if l.startswith("ossmount: warning:")]
        assert len(warned) == 3, r.stderr
        for name in ["ensure_diskfree", "del_cache", "jindo_attr_timeout"]:
            assert any(name in l for l in warned), name
    finally:
        unmount(mnt)
    started = time.monotonic()
    r = run_mount(env, env.mount_args("", mnt, "fuse_thread=8")[1:])
    assert r.returncode != 0 and "unknown option 'fuse_thread'" in r.stderr
    assert time.monotonic() - started < 5 and not os.path.ismount(mnt)


def test_jindofuse_uri_form_mounts(env):
    env.bucket.put_object("jf/train/x.bin", b"jindo")
    mnt = tempfile.mkdtemp(prefix="mnt-", dir=env.base)
    r = run_mount(env, [mnt, f"-ouri=oss://{BUCKET}/jf/train/", f"-oendpoint={env.server.endpoint}",
                        f"-oregion={REGION}", "-oro", "-ojindo_entry_size=5000"])
    assert r.returncode == 0, r.stderr
    try:
        with open(os.path.join(mnt, "x.bin"), "rb") as f:
            assert f.read() == b"jindo"
    finally:
        unmount(mnt)
