"""Bad input fails the mount command within seconds, with one line that names
the problem, and leaves nothing mounted; the credential forms users have mount."""
import os
import stat
import subprocess
import tempfile
import time

import pytest

from conftest import BUCKET, OSSMOUNT, REGION, wait_until


def run_mount(env, args, env_vars=None, timeout=30):
    start = time.monotonic()
    r = subprocess.run([str(OSSMOUNT)] + args, env=env_vars or env.credentials_env(), capture_output=True, text=True,
                       timeout=timeout)
    return r, time.monotonic() - start


def fresh_dir(env):
    return tempfile.mkdtemp(prefix="bad-", dir=env.base)


def check_failure(r, elapsed, *needles):
    assert r.returncode != 0
    assert elapsed < 10, f"took {elapsed:.1f}s"
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    assert len(lines) == 1, r.stderr
    for n in needles:
        assert n in lines[0], lines[0]


def test_wrong_secret(env):
    mnt = fresh_dir(env)
    r, t = run_mount(env, env.mount_args("", mnt)[1:], env.credentials_env(secret="wrong-secret"))
    check_failure(r, t, "SignatureDoesNotMatch")
    assert not os.path.ismount(mnt)


def test_missing_bucket(env):
    mnt = fresh_dir(env)
    args = env.mount_args("", mnt)[1:]
    args[0] = "no-such-bucket"
    r, t = run_mount(env, args)
    check_failure(r, t, "NoSuchBucket")


def test_unreachable_endpoint(env):
    mnt = fresh_dir(env)
    r, t = run_mount(env, [BUCKET, mnt, "-o", f"endpoint=http://127.0.0.1:9,region={REGION}"])
    check_failure(r, t, "cannot reach endpoint")


def test_missing_mountpoint(env):
    r, t = run_mount(env, env.mount_args("", os.path.join(env.base, "does-not-exist"))[1:])
    check_failure(r, t, "does not exist")


def test_non_empty_mountpoint(env):
    mnt = fresh_dir(env)
    open(os.path.join(mnt, "file"), "w").close()
    r, t = run_mount(env, env.mount_args("", mnt)[1:])
    check_failure(r, t, "not empty", "nonempty")


def test_unknown_option(env):
    mnt = fresh_dir(env)
    r, t = run_mount(env, env.mount_args("", mnt, "no_such_option=1")[1:])
    check_failure(r, t, "unknown option 'no_such_option'")


def test_sdk_environment_names_and_a_group_readable_passwd_file_mount(env):
    """ALIBABA_CLOUD_ACCESS_KEY_ID/_SECRET alone, and a passwd file of mode 640 (as
    ossfs's docs suggest), each give a working mount."""
    plain = {k: v for k, v in os.environ.items() if not k.startswith(("OSS_ACCESS_KEY", "ALIBABA_CLOUD_"))}
    env.bucket.put_object("cred/hello", b"hi")
    sdk = dict(plain, ALIBABA_CLOUD_ACCESS_KEY_ID=env.server.access_key_id,
               ALIBABA_CLOUD_ACCESS_KEY_SECRET=env.server.secret)
    path = os.path.join(env.base, "passwd-group")
    with open(path, "w") as f:
        f.write(f"{env.server.access_key_id}:{env.server.secret}\n")
    os.chmod(path, 0o640)
    for variables, options in ((sdk, ""), (plain, f"passwd_file={path}")):
        mnt = fresh_dir(env)
        r, _ = run_mount(env, env.mount_args("cred/", mnt, options)[1:], variables)
        assert r.returncode == 0, r.stderr
        try:
            assert open(os.path.join(mnt, "hello"), "rb").read() == b"hi"
        finally:
            subprocess.run(["fusermount3", "-u", mnt], check=False)
            assert wait_until(lambda: not os.path.ismount(mnt))


def test_world_readable_passwd_file(env):
    mnt = fresh_dir(env)
    path = os.path.join(env.base, "passwd-open")
    with open(path, "w") as f:
        f.write(f"{env.server.access_key_id}:{env.server.secret}\n")
    os.chmod(path, 0o644)
    plain = {k: v for k, v in os.environ.items() if not k.startswith("OSS_ACCESS_KEY")}
    r, t = run_mount(env, env.mount_args("", mnt, f"passwd_file={path}")[1:], plain)
    check_failure(r, t, "chmod 600")
    assert env.server.secret not in r.stderr


def test_uploads_list_and_abort(env):
    """`ossmount uploads` shows incomplete multipart uploads under a prefix and aborts them."""
    ids = [env.bucket.init_multipart_upload(f"mpu/k{i}").upload_id for i in range(3)]
    env.bucket.init_multipart_upload("elsewhere/k").upload_id
    base = [str(OSSMOUNT), "uploads"]
    opts = ["-o", f"endpoint={env.server.endpoint},region={REGION}"]
    r = subprocess.run(base + ["list", f"{BUCKET}:/mpu"] + opts, env=env.credentials_env(), capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    listed = {line.split("\t")[1] for line in r.stdout.splitlines()}
    assert listed == set(ids)
    # Options before the bucket, as `ossmount uploads list -o ... BUCKET` is typed too.
    r = subprocess.run(base + ["list"] + opts + [f"{BUCKET}:/mpu"], env=env.credentials_env(), capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert {line.split("\t")[1] for line in r.stdout.splitlines()} == set(ids)
    r = subprocess.run(base + ["list", f"{BUCKET}:/mpu", "--older-than", "1h"] + opts, env=env.credentials_env(),
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and r.stdout == ""  # all are newer than an hour
    r = subprocess.run(base + ["abort", f"{BUCKET}:/mpu", "--older-than", "1h"] + opts, env=env.credentials_env(),
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and r.stdout == ""  # nothing that old: the live ones stay
    r = subprocess.run(base + ["abort", f"{BUCKET}:/mpu", "--older-than", "1h", "--all"] + opts,
                       env=env.credentials_env(), capture_output=True, text=True, timeout=30)
    assert r.returncode != 0 and "not both" in r.stderr
    r = subprocess.run(base + ["abort", f"{BUCKET}:/mpu", "--all"] + opts, env=env.credentials_env(), capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert len([l for l in r.stdout.splitlines() if l.startswith("aborted")]) == 3
    left = [u.key for u in env.bucket.list_multipart_uploads(prefix="").upload_list]
    assert "elsewhere/k" in left and not any(k.startswith("mpu/") for k in left)


def test_missing_staging_dir(env):
    mnt = fresh_dir(env)
    r, t = run_mount(env, env.mount_args("", mnt, "staging_dir=/nonexistent/staging")[1:])
    check_failure(r, t, "staging_dir /nonexistent/staging")
    assert not os.path.ismount(mnt)


def test_staging_max_gives_enospc_not_a_lost_file(env):
    import errno
    env.bucket.put_object("w-stmax/f.bin", b"x" * 4096)
    with env.mounted("w-stmax/", "staging_max=1M") as mnt:
        fd = os.open(os.path.join(mnt, "f.bin"), os.O_WRONLY)
        os.pwrite(fd, b"y", 10)  # an edit: the 4 KiB object is staged
        with pytest.raises(OSError) as info:
            os.pwrite(fd, b"z" * 4096, 2 << 20)  # would grow the staging file past 1 MiB
        assert info.value.errno == errno.ENOSPC
        os.close(fd)
    assert env.bucket.get_object("w-stmax/f.bin").read() == b"x" * 10 + b"y" + b"x" * 4085
