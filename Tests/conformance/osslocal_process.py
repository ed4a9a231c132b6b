"""Starting and stopping osslocal processes, shared by the conformance and
mount test suites."""
import os
import pathlib
import signal
import subprocess
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]


def wait_until(predicate, timeout=15.0, interval=0.02):
    """Polls `predicate` until it holds or `timeout` seconds pass; returns its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()
BINARY = ROOT / ".build" / "debug" / "osslocal"
BUCKET = "conformance"
REGION = "cn-hangzhou"


class Server:
    """An osslocal process on a free loopback port."""

    def __init__(self, root, access_key_id, secret, token=None, extra=(), listen="127.0.0.1:0"):
        self.root = root
        self.listen = listen
        self.access_key_id, self.secret, self.token = access_key_id, secret, token
        self.extra = list(extra)
        self.proc = None
        self.endpoint = None

    def start(self, timeout=20):
        env = dict(os.environ, OSSLOCAL_ACCESS_KEY_SECRET=self.secret)
        if self.token:
            env["OSSLOCAL_SECURITY_TOKEN"] = self.token
        self.proc = subprocess.Popen(
            [str(BINARY), "--root", self.root, "--bucket", BUCKET, "--access-key-id", self.access_key_id,
             "--listen", self.listen, "--region", REGION, *self.extra],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True)
        deadline = time.monotonic() + timeout
        line = ""
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if line.startswith("osslocal listening on "):
                self.endpoint = line.split()[-1]
                return self
            if self.proc.poll() is not None:
                break
        raise RuntimeError(f"osslocal did not start: {line!r}")

    def kill(self, sig=signal.SIGKILL):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=20)

    def stop(self):
        self.kill(signal.SIGTERM)


