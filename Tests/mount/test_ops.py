"""Running it as a platform engineer does: routine mistakes and states each get one
line that says what to fix (no backtrace), and `ossmount -f` under systemd's
Type=notify tells a (fake) NOTIFY_SOCKET it is ready only once the mount answers."""
import os
import signal
import socket
import subprocess
import tempfile
import time

import oss2
import pytest

from conftest import OSSMOUNT, wait_until


def run(env, args, timeout=30):
    started = time.monotonic()
    r = subprocess.run([str(OSSMOUNT)] + args, env=env.credentials_env(), capture_output=True, text=True,
                       timeout=timeout)
    return r, time.monotonic() - started


def one_line(r):
    lines = r.stderr.strip().splitlines()
    assert r.returncode != 0 and len(lines) == 1, r.stderr
    assert "crash" not in r.stderr.lower() and "backtrace" not in r.stderr.lower()
    return lines[0]


@pytest.mark.parametrize("option,says", [
    ("uid=99999999999", "option uid takes an id from 0 to 4294967294"),
    ("gid=-1", "option gid needs a whole number"),
    ("total_mem_limit=99999999999999G", "is larger than any machine's memory or disk"),
    ("umask=77777777777777777", "option umask takes an octal mode up to 7777"),
    ("log_file=/proc/ossmount-cannot-write.log", "cannot write log_file /proc/ossmount-cannot-write.log"),
])
def test_bad_values_give_one_line(env, option, says):
    mnt = tempfile.mkdtemp(prefix="mnt-", dir=env.base)
    r, seconds = run(env, env.mount_args("", mnt, option)[1:])
    assert says in one_line(r) and seconds < 10
    assert not os.path.ismount(mnt)


def test_a_stale_mount_says_to_unmount_it(env):
    mnt = tempfile.mkdtemp(prefix="mnt-", dir=env.base)
    proc = subprocess.Popen(env.mount_args("", mnt) + ["-f"], env=env.credentials_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_until(lambda: os.path.ismount(mnt))
        proc.kill()  # the daemon is gone; the kernel mount stays (ENOTCONN)
        proc.wait(timeout=10)
        with pytest.raises(OSError):
            os.listdir(mnt)
        r, _ = run(env, env.mount_args("", mnt)[1:])
        line = one_line(r)
        assert "daemon is gone" in line and f"fusermount3 -u {mnt}" in line and "mkdir" not in line
    finally:
        subprocess.run(["fusermount3", "-uz", mnt], check=False, stderr=subprocess.DEVNULL)


def test_an_already_mounted_directory_is_not_mounted_over(env):
    mnt = tempfile.mkdtemp(prefix="mnt-", dir=env.base)
    with env.mounted("ops-empty-prefix/"):
        pass
    r, _ = run(env, env.mount_args("ops-nothing-here/", mnt)[1:])
    assert r.returncode == 0, r.stderr
    try:
        assert os.listdir(mnt) == []  # an empty bucket prefix: emptiness does not reveal the mount
        r2, _ = run(env, env.mount_args("ops-nothing-here/", mnt)[1:])
        line = one_line(r2)
        assert f"{mnt} is already mounted (fuse.ossmount)" in line and "fusermount3 -u" in line
        assert open("/proc/mounts").read().count(" " + mnt + " ") == 1
    finally:
        subprocess.run(["fusermount3", "-u", mnt], check=False)


def test_notify_socket_gets_ready_only_once_the_mount_answers(env):
    mnt = tempfile.mkdtemp(prefix="mnt-", dir=env.base)
    path = os.path.join(env.base, "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(30)
    env_vars = dict(env.credentials_env(), NOTIFY_SOCKET=path)
    env.bucket.put_object("notify/f.txt", b"ready")
    proc = subprocess.Popen(env.mount_args("notify/", mnt) + ["-f"], env=env_vars,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        message = sock.recv(4096).decode()
        # At the moment READY=1 arrives the mount already answers.
        assert os.path.ismount(mnt) and os.listdir(mnt) == ["f.txt"]
        assert "READY=1" in message.split("\n")
        proc.send_signal(signal.SIGTERM)
        assert sock.recv(4096).decode().startswith("STOPPING=1")
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        sock.close()
        subprocess.run(["fusermount3", "-uz", mnt], check=False, stderr=subprocess.DEVNULL)


def test_a_dev_fd_mountpoint_is_served_and_stops_on_sigterm(env):
    """CSI drivers and unprivileged containers open /dev/fuse and mount it themselves,
    then hand the daemon `/dev/fd/N`, as libfuse allows."""
    import ctypes
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    mnt = tempfile.mkdtemp(prefix="mnt-", dir=env.base)
    fd = os.open("/dev/fuse", os.O_RDWR)
    options = f"fd={fd},rootmode=40000,user_id=0,group_id=0".encode()
    assert libc.mount(b"ossmount:conformance", mnt.encode(), b"fuse.ossmount", 2 | 4, options) == 0, ctypes.get_errno()
    env.bucket.put_object("devfd/seen.txt", b"through a passed fd")
    args = env.mount_args("devfd/", f"/dev/fd/{fd}") + ["-f"]
    proc = subprocess.Popen(args, env=env.credentials_env(), pass_fds=(fd,), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    os.close(fd)
    try:
        assert wait_until(lambda: os.path.exists(os.path.join(mnt, "seen.txt")), 30)
        with open(os.path.join(mnt, "seen.txt"), "rb") as f:
            assert f.read() == b"through a passed fd"
        with open(os.path.join(mnt, "written.txt"), "wb") as f:
            f.write(b"back")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0, proc.stderr.read()
        assert env.bucket.get_object("devfd/written.txt").read() == b"back"
    finally:
        if proc.poll() is None:
            proc.kill()
        subprocess.run(["umount", "-l", mnt], check=False, stderr=subprocess.DEVNULL)


def test_a_server_that_is_not_oss_is_named_so(env):
    """A web server at the endpoint (a typo, a proxy's error page) is not "NoSuchKey"."""
    import http.server
    import threading

    class NotOSS(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = b"<html><body>404 Not Found</body></html>"
            self.send_response(404)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_HEAD = do_GET

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), NotOSS)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        mnt = tempfile.mkdtemp(prefix="mnt-", dir=env.base)
        args = [f"conformance", mnt, "-o", f"endpoint=http://127.0.0.1:{server.server_port},region=cn-hangzhou"]
        r, seconds = run(env, args)
        line = one_line(r)
        assert "is not an OSS endpoint" in line and "NoSuchKey" not in line and seconds < 10
    finally:
        server.shutdown()


@pytest.mark.parametrize("extra,others_read", [("", False), (",no_default_permissions", True)])
def test_allow_other_checks_permissions_unless_asked_not_to(env, extra, others_read):
    """With allow_other the kernel checks modes (default_permissions): another user
    cannot read a mode-600 file or delete a file in a 755 directory."""
    mnt = tempfile.mkdtemp(prefix="mnt-", dir=env.base)
    os.chmod(mnt, 0o755)
    os.chmod(env.base, 0o755)
    prefix = f"perm{'-off' if others_read else ''}/"
    r, _ = run(env, env.mount_args(prefix, mnt, "allow_other" + extra)[1:])
    assert r.returncode == 0, r.stderr
    try:
        secret = os.path.join(mnt, "secret.txt")
        with open(secret, "w") as f:
            f.write("root only")
        os.chmod(secret, 0o600)
        as_nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
        read = subprocess.run(as_nobody + ["cat", secret], capture_output=True, text=True)
        assert (read.returncode == 0) == others_read, read.stderr
        remove = subprocess.run(as_nobody + ["rm", "-f", secret], capture_output=True, text=True)
        assert (remove.returncode == 0) == others_read, remove.stderr
        if not others_read:
            assert "Permission denied" in read.stderr and os.path.exists(secret)
    finally:
        subprocess.run(["fusermount3", "-u", mnt], check=False)


def test_a_background_mount_without_log_file_still_logs(env):
    mnt = tempfile.mkdtemp(prefix="mnt-", dir=env.base)
    expected = "/var/log/ossmount/" + "-".join(p for p in mnt.split("/") if p) + ".log"
    r, _ = run(env, env.mount_args("", mnt)[1:] + ["--print-config"])
    assert f"log_file={expected}" in r.stdout
    r, _ = run(env, env.mount_args("", mnt)[1:])
    assert r.returncode == 0, r.stderr
    try:
        assert wait_until(lambda: os.path.exists(expected) and "mounted" in open(expected).read())
    finally:
        subprocess.run(["fusermount3", "-u", mnt], check=False)
        assert wait_until(lambda: "unmounted" in open(expected).read())
        os.unlink(expected)


def serving(mnt):
    """PIDs whose command line names `mnt` (the daemon serving it)."""
    pids = []
    for p in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{p}/cmdline", "rb") as f:
                if mnt.encode() in f.read().split(b"\0"):
                    pids.append(int(p))
        except OSError:
            pass  # gone meanwhile
    return pids


def test_the_background_daemon_and_its_threads_are_named_ossmount(env):
    """The daemon is started again through /proc/self/exe, which the kernel would name
    "exe": top, `pgrep -x ossmount` and killall must still find it."""
    with env.mounted("") as mnt:
        pids = serving(mnt)
        assert len(pids) == 1, pids
        with open(f"/proc/{pids[0]}/comm") as f:
            assert f.read() == "ossmount\n"
        names = set()
        for t in os.listdir(f"/proc/{pids[0]}/task"):
            with open(f"/proc/{pids[0]}/task/{t}/comm") as f:
                names.add(f.read().strip())
        assert "exe" not in names and "ossmount" in names, names
        found = subprocess.run(["pgrep", "-x", "ossmount"], capture_output=True, text=True).stdout.split()
        assert str(pids[0]) in found


def test_files_belong_to_the_user_who_creates_them(env):
    """Through an allow_other mount a file another user creates is theirs (stored as
    x-oss-meta-uid/gid), so with the kernel's permission checks they can write it again;
    -o uid= fixes the owner instead."""
    mnt = tempfile.mkdtemp(prefix="mnt-", dir=env.base)
    os.chmod(mnt, 0o755)
    os.chmod(env.base, 0o755)
    r, _ = run(env, env.mount_args("owners/", mnt, "allow_other,dir_mode=0777,umask=0")[1:])
    assert r.returncode == 0, r.stderr
    as_nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    try:
        path = os.path.join(mnt, "mine.txt")
        made = subprocess.run(as_nobody + ["sh", "-c", f"echo first > {path} && echo second >> {path}"],
                              capture_output=True, text=True)
        assert made.returncode == 0, made.stderr
        assert (os.stat(path).st_uid, os.stat(path).st_gid) == (65534, 65534)
        meta = env.bucket.head_object("owners/mine.txt").headers
        assert (meta["x-oss-meta-uid"], meta["x-oss-meta-gid"]) == ("65534", "65534")
        assert open(path).read() == "first\nsecond\n"
    finally:
        subprocess.run(["fusermount3", "-u", mnt], check=False)
    r, _ = run(env, env.mount_args("owners/", mnt, "allow_other,dir_mode=0777,umask=0,uid=4242")[1:])
    assert r.returncode == 0, r.stderr
    try:
        made = subprocess.run(as_nobody + ["sh", "-c", f"echo fixed > {mnt}/fixed.txt"], capture_output=True, text=True)
        assert made.returncode == 0, made.stderr
        assert env.bucket.head_object("owners/fixed.txt").headers["x-oss-meta-uid"] == "4242"
    finally:
        subprocess.run(["fusermount3", "-u", mnt], check=False)


def test_both_binaries_say_their_version_and_commit(env):
    """The commit is the checkout's (git describe), -dirty when the tree had changes."""
    import re
    from conftest import ROOT
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    for binary, name in ((OSSMOUNT, "ossmount"), (ROOT / ".build" / "debug" / "osslocal", "osslocal")):
        r = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=10)
        assert r.returncode == 0, (name, r.stderr)
        m = re.fullmatch(rf"{name} \d+\.\d+\.\d+ \(commit ([0-9a-f]{{12}})(-dirty)?\)\n", r.stdout)
        assert m and head.startswith(m.group(1)), (r.stdout, head)
    assert "--version" in subprocess.run([str(OSSMOUNT), "--help"], capture_output=True, text=True).stdout


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_stderr_and_the_log_file_have_one_format(env, fmt):
    """`-f` logs to stderr, a background mount to its log file: the same lines either way,
    `log_format=json` one object per line; request lines carry OSS's request id."""
    import json
    import re
    env.bucket.put_object(f"logfmt-{fmt}/f.txt", b"x")
    mnt = tempfile.mkdtemp(prefix="mnt-", dir=env.base)
    proc = subprocess.Popen(env.mount_args(f"logfmt-{fmt}/", mnt, f"log_format={fmt},log_level=debug") + ["-f"],
                            env=env.credentials_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        assert wait_until(lambda: os.path.ismount(mnt), 30)
        with open(os.path.join(mnt, "f.txt"), "rb") as f:
            assert f.read() == b"x"
    finally:
        subprocess.run(["fusermount3", "-u", mnt], check=False)
        stderr_lines = proc.communicate(timeout=30)[1].splitlines()
    log = os.path.join(env.base, f"logfmt-{fmt}.log")
    with env.mounted(f"logfmt-{fmt}/", f"log_format={fmt},log_level=debug,log_file={log}") as mnt2:
        with open(os.path.join(mnt2, "f.txt"), "rb") as f:
            assert f.read() == b"x"
    file_lines = open(log).read().splitlines()
    stamp = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"
    for lines in (stderr_lines, file_lines):
        assert lines
        if fmt == "json":
            records = [json.loads(line) for line in lines]
            assert all(re.fullmatch(stamp, r["time"]) for r in records)
            mounted = next(r for r in records if r["message"] == "mounted")
            assert mounted["level"] == "info" and mounted["bucket"] == "conformance"
            got = [r for r in records if r["message"] == "request" and r.get("op") == "GetObject"]
            assert got and re.fullmatch(r"[0-9A-F]{24}", got[0]["request_id"]), got
        else:
            assert all(re.match(stamp + r" (trace|debug|info|notice|warning|error|critical) ", line) for line in lines), lines
            assert any(re.search(r" info mounted bucket=conformance ", line) for line in lines)
            assert any(" debug request " in line and "op=GetObject" in line and re.search(r"request_id=[0-9A-F]{24}", line)
                       for line in lines)


def test_old_incomplete_uploads_are_logged_at_mount_with_the_command_that_removes_them(env):
    """A daemon killed mid-write leaves a multipart upload (billed by OSS): the next mount
    logs those older than stale_uploads_age (24h; 0s here, as osslocal's uploads are
    young) with a command that, run as written, removes them."""
    import shlex
    young = env.bucket.init_multipart_upload("stale/ckpt.bin").upload_id
    env.bucket.init_multipart_upload("elsewhere/x.bin")
    log = os.path.join(env.base, "stale.log")
    with env.mounted("stale/", f"log_file={log}"):
        pass
    assert "incomplete multipart uploads" not in open(log).read()  # younger than a day
    with env.mounted("stale/", f"log_file={log},stale_uploads_age=0s"):
        pass
    lines = [l for l in open(log).read().splitlines() if "incomplete multipart uploads" in l]
    assert len(lines) == 1 and " warning 1 incomplete multipart uploads older than 0s under conformance:/stale/;" in lines[0]
    assert "oldest=stale/ckpt.bin" in lines[0] and env.server.secret not in lines[0]
    command = lines[0].split("remove them with: ")[1].split(" initiated=")[0]
    args = shlex.split(command)
    assert args[:2] == ["ossmount", "uploads"]
    r = subprocess.run([str(OSSMOUNT)] + args[1:] + ["-o", "region=cn-hangzhou"], env=env.credentials_env(),
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and young in r.stdout, r.stderr
    remaining = [u.key for u in oss2.MultipartUploadIterator(env.bucket)]
    assert "stale/ckpt.bin" not in remaining and "elsewhere/x.bin" in remaining, remaining
