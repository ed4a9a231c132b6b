"""Credentials that change under a running mount, as they do in production: an
ACK pod's RRSA token exchanged with STS (osslocal's own, issuing short-lived
keys) while Kubernetes rotates the token file, and a long-term key rotated in
a credentials file without `Expiration`. Every operation through the mount
must keep working; nothing may answer EACCES."""
import json
import os
import shutil
import subprocess
import tempfile
import time

import oss2
import pytest

from conftest import BUCKET, OSSMOUNT, REGION, Server, wait_until

ROLE = "acs:ram::1234567890:role/ossmount-test"
PROVIDER = "acs:ram::1234567890:oidc-provider/ack-rrsa-test"


def clean_env(**extra):
    """The environment without any credential variable, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OSS_ACCESS_KEY", "OSS_SESSION", "ALIBABA_CLOUD_"))}
    env.update(extra)
    return env


def replace(path, text):
    """Writes `text` to a new file renamed over `path`, as Kubernetes and PAI rotate files."""
    with open(path + ".new", "w") as f:
        f.write(text)
    os.chmod(path + ".new", 0o600)
    os.rename(path + ".new", path)


def mount(server, mnt, env, options=""):
    opts = f"endpoint={server.endpoint},region={REGION},attr_timeout=0,entry_timeout=0" + ("," + options if options else "")
    r = subprocess.run([str(OSSMOUNT), BUCKET, mnt, "-o", opts], env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return mnt


def unmount(mnt):
    subprocess.run(["fusermount3", "-u", mnt], check=False)
    assert wait_until(lambda: not os.path.ismount(mnt))


def exercise(mnt, i):
    """One round of what a job does: write a file, read it back, list, stat."""
    path = os.path.join(mnt, f"round-{i:03d}.txt")
    with open(path, "w") as f:
        f.write(f"round {i}")
    with open(path) as f:
        assert f.read() == f"round {i}"
    assert f"round-{i:03d}.txt" in os.listdir(mnt)
    assert os.stat(path).st_size == len(f"round {i}")


@pytest.fixture
def base():
    d = tempfile.mkdtemp(prefix="ossmount-creds-")
    yield d
    for line in open("/proc/mounts"):
        if line.split()[1].startswith(d):
            subprocess.run(["fusermount3", "-uz", line.split()[1]], check=False)
    shutil.rmtree(d, ignore_errors=True)


def test_rrsa_through_osslocal_sts_with_a_rotating_token(base):
    """ALIBABA_CLOUD_ROLE_ARN / _OIDC_PROVIDER_ARN / _OIDC_TOKEN_FILE as ACK injects
    them: the token is exchanged for keys that live 16 s; the token file rotates
    (the old token is refused from then on) and the mount keeps working for more
    than one key lifetime, refreshing before each expiry with the new token."""
    server_tokens = os.path.join(base, "accepted-tokens")
    token_file = os.path.join(base, "token")
    replace(server_tokens, "eyJhbGciOiJSUzI1NiJ9.first-token\n")
    replace(token_file, "eyJhbGciOiJSUzI1NiJ9.first-token")
    log = os.path.join(base, "requests.log")
    server = Server(os.path.join(base, "root"), "LTAI5tStaticKey", "StaticSecret0123",
                    extra=["--sts-role-arn", ROLE, "--sts-oidc-tokens", server_tokens, "--sts-duration", "16",
                           "--request-log", log]).start()
    mnt = tempfile.mkdtemp(prefix="mnt-", dir=base)
    try:
        env = clean_env(ALIBABA_CLOUD_ROLE_ARN=ROLE, ALIBABA_CLOUD_OIDC_PROVIDER_ARN=PROVIDER,
                        ALIBABA_CLOUD_OIDC_TOKEN_FILE=token_file, ALIBABA_CLOUD_STS_ENDPOINT=server.endpoint)
        r = subprocess.run([str(OSSMOUNT), BUCKET, mnt, "-o", f"endpoint={server.endpoint},region={REGION}",
                            "--print-config"], env=env, capture_output=True, text=True, timeout=30)
        assert f"credentials=RRSA role {ROLE}" in r.stdout, r.stdout
        mount(server, mnt, env)
        exercise(mnt, 0)
        # Kubernetes rotates the projected token; the identity provider stops taking the old one.
        replace(token_file, "eyJhbGciOiJSUzI1NiJ9.second-token")
        replace(server_tokens, "eyJhbGciOiJSUzI1NiJ9.second-token\n")
        with open(log) as f:
            rotated_at = len(f.readlines())
        started, i = time.monotonic(), 1
        while time.monotonic() - started < 36:  # more than two key lifetimes
            exercise(mnt, i)
            i += 1
            time.sleep(0.25)
        with open(log) as f:
            entries = [json.loads(line) for line in f if line.strip()]
        exchanges = [e for e in entries if e["op"] == "assumeRoleWithOIDC"]
        after = [e for e in entries[rotated_at:] if e["op"] == "assumeRoleWithOIDC"]
        assert all(e["status"] == 200 for e in exchanges), exchanges
        assert len(after) >= 2, exchanges  # refreshed before each expiry, with the new token
        assert len(exchanges) <= 12  # not once per request
        assert not [e for e in entries if e["status"] == 403], "a request was refused"
    finally:
        if os.path.ismount(mnt):
            unmount(mnt)
        server.stop()
    # What the mount wrote is on OSS, read with a long-term key.
    check = Server(os.path.join(base, "root"), "LTAI5tStaticKey", "StaticSecret0123").start()
    try:
        bucket = oss2.Bucket(oss2.Auth("LTAI5tStaticKey", "StaticSecret0123"), check.endpoint, BUCKET,
                             is_path_style=True)
        assert bucket.get_object(f"round-{i - 1:03d}.txt").read() == f"round {i - 1}".encode()
    finally:
        check.stop()


def test_key_rotated_in_a_credentials_file_without_expiration(base):
    """A long-term key in a credentials file (no Expiration) is rotated while the
    mount runs: the server now knows only the new key. The mount picks the new
    one up when the file changes, or at the latest on the first 403."""
    root = os.path.join(base, "root")
    old = Server(root, "LTAI5tOldKey", "OldSecret0123456").start()
    port = old.endpoint.rsplit(":", 1)[1]
    creds = os.path.join(base, "credentials")
    replace(creds, json.dumps({"AccessKeyId": "LTAI5tOldKey", "AccessKeySecret": "OldSecret0123456"}))
    mnt = tempfile.mkdtemp(prefix="mnt-", dir=base)
    new = None
    try:
        mount(old, mnt, clean_env(), f"credentials_file={creds}")
        exercise(mnt, 0)
        # The key is rotated: the old one stops working the moment the server restarts.
        old.stop()
        new = Server(root, "LTAI5tNewKey", "NewSecret0123456", listen=f"127.0.0.1:{port}").start()
        replace(creds, json.dumps({"AccessKeyId": "LTAI5tNewKey", "AccessKeySecret": "NewSecret0123456"}))
        for i in range(1, 20):
            exercise(mnt, i)
    finally:
        if os.path.ismount(mnt):
            unmount(mnt)
        (new or old).stop()


def test_a_403_reads_the_credentials_file_again(base):
    """The file is rewritten in place with the same size and mtime kept (so nothing
    tells the mount it changed): the first refused request reads it again."""
    root = os.path.join(base, "root")
    old = Server(root, "LTAI5tKeyAAAA", "SecretAAAAAAAAAA").start()
    port = old.endpoint.rsplit(":", 1)[1]
    creds = os.path.join(base, "credentials")
    replace(creds, json.dumps({"AccessKeyId": "LTAI5tKeyAAAA", "AccessKeySecret": "SecretAAAAAAAAAA"}))
    stamp = os.stat(creds)
    mnt = tempfile.mkdtemp(prefix="mnt-", dir=base)
    new = None
    try:
        mount(old, mnt, clean_env(), f"credentials_file={creds}")
        exercise(mnt, 0)
        old.stop()
        new = Server(root, "LTAI5tKeyBBBB", "SecretBBBBBBBBBB", listen=f"127.0.0.1:{port}").start()
        with open(creds, "r+") as f:  # same inode, same size
            f.write(json.dumps({"AccessKeyId": "LTAI5tKeyBBBB", "AccessKeySecret": "SecretBBBBBBBBBB"}))
        os.utime(creds, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
        exercise(mnt, 1)
    finally:
        if os.path.ismount(mnt):
            unmount(mnt)
        (new or old).stop()
