"""The Debian package as an operator installs it: scripts/package.sh (here from
the debug binaries the suite built, so the test stays fast; the release build
links the Swift runtime statically), dpkg -i, then `man ossmount` lists every
option of docs/CONFIGURATION.md, and `mount -t fuse.ossmount` and an fstab line
work with the bare PATH that mount(8), systemd and cron give, nosuid,nodev."""
import gzip
import os
import pathlib
import subprocess
import sys
import tempfile

import pytest

from conftest import BUCKET, OSSMOUNT, REGION, ROOT, wait_until

sys.path.insert(0, str(ROOT / "scripts" / "lib"))
import manpage  # noqa: E402

BARE_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"


@pytest.fixture(scope="module")
def installed():
    if subprocess.run(["dpkg", "-s", "ossmount"], capture_output=True).returncode == 0:
        pytest.fail("an ossmount package is installed already; remove it (dpkg -r ossmount) to run this test")
    r = subprocess.run(["bash", "scripts/package.sh", "--bin", str(OSSMOUNT.parent)], cwd=ROOT, capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    deb, tarball = [ROOT / line for line in r.stdout.split()[-2:]]
    assert deb.name.endswith(".deb") and tarball.name.endswith(".tar.gz")
    r = subprocess.run(["dpkg", "-i", str(deb)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    yield deb, tarball
    subprocess.run(["dpkg", "--purge", "ossmount"], capture_output=True, timeout=120)
    for path in (deb, tarball):
        path.unlink(missing_ok=True)


def test_the_package_holds_what_an_operator_needs(installed):
    files = subprocess.run(["dpkg", "-L", "ossmount"], capture_output=True, text=True).stdout.split()
    for path in ["/usr/bin/ossmount", "/usr/bin/osslocal", "/usr/share/man/man8/ossmount.8.gz",
                 "/usr/share/bash-completion/completions/ossmount", "/lib/systemd/system/ossmount@.service",
                 "/usr/share/doc/ossmount/examples/fstab.example", "/usr/share/doc/ossmount/MIGRATING.md"]:
        assert path in files, path
    unit = pathlib.Path("/lib/systemd/system/ossmount@.service").read_text()
    assert "ExecStart=/usr/bin/ossmount " in unit and "Type=notify" in unit
    completion = pathlib.Path("/usr/share/bash-completion/completions/ossmount").read_text()
    assert "@OPTIONS@" not in completion and " shutdown_timeout " in completion
    depends = subprocess.run(["dpkg-deb", "-f", str(installed[0]), "Depends"], capture_output=True, text=True).stdout
    assert "libfuse3-3" in depends and "libcurl4" in depends
    listed = subprocess.run(["tar", "-tzf", str(installed[1])], capture_output=True, text=True).stdout.split()
    assert "./usr/bin/ossmount" in listed and not any("DEBIAN" in p for p in listed)


def test_man_page_lists_every_option(installed):
    r = subprocess.run(["man", "-P", "cat", "ossmount"], capture_output=True, text=True,
                       env=dict(os.environ, MANWIDTH="200", PATH=BARE_PATH))
    assert r.returncode == 0, r.stderr
    text = r.stdout
    names = manpage.option_names()
    assert len(names) > 50
    missing = [n for n in names if n not in text]
    assert not missing, missing
    assert "SIGTERM" in text


def test_mount_helper_and_fstab_with_the_bare_path(installed, env):
    env.bucket.put_object("pkg/f.txt", b"from the package")
    passwd = os.path.join(env.base, "passwd-pkg")
    with open(passwd, "w") as f:
        f.write(f"{BUCKET}:{env.server.access_key_id}:{env.server.secret}\n")
    os.chmod(passwd, 0o600)
    bare = {"PATH": BARE_PATH}  # no credentials in the environment either, as under systemd or cron
    opts = f"endpoint={env.server.endpoint},region={REGION},passwd_file={passwd},ro"
    mnt = tempfile.mkdtemp(prefix="mnt-", dir=env.base)
    r = subprocess.run(["mount", "-t", "fuse.ossmount", f"{BUCKET}:/pkg", mnt, "-o", opts], env=bare,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    try:
        with open(os.path.join(mnt, "f.txt"), "rb") as f:
            assert f.read() == b"from the package"
        line = next(l for l in open("/proc/mounts") if f" {mnt} " in l)
        assert "nosuid" in line.split()[3] and "nodev" in line.split()[3], line
    finally:
        subprocess.run(["umount", mnt], check=False)
        assert wait_until(lambda: not os.path.ismount(mnt))
    fstab = os.path.join(env.base, "fstab-pkg")
    with open(fstab, "w") as f:
        f.write(f"{BUCKET}:/pkg {mnt} fuse.ossmount _netdev,{opts} 0 0\n")
    r = subprocess.run(["mount", "-a", "-T", fstab], env=bare, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    try:
        assert os.listdir(mnt) == ["f.txt"]
    finally:
        subprocess.run(["umount", mnt], check=False)
        assert wait_until(lambda: not os.path.ismount(mnt))
