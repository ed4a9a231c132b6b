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
        # Lines it prints once ready: one per listener, and the CA it wrote (all at once).
        expected = 1 + ("--tls-listen" in self.extra) + ("--tls-self-signed" in self.extra)
        deadline = time.monotonic() + timeout
        line, lines = "", []
        while time.monotonic() < deadline and len(lines) < expected:
            line = self.proc.stdout.readline()
            if line.startswith("osslocal "):
                lines.append(line)
            elif self.proc.poll() is not None:
                raise RuntimeError(f"osslocal did not start: {line!r}")
        if len(lines) < expected:
            raise RuntimeError(f"osslocal did not start: {line!r}")
        urls = [l.split()[-1] for l in lines if l.startswith("osslocal listening on ")]
        self.endpoint = urls[0]
        self.https_endpoint = next((u for u in urls if u.startswith("https://")), None)
        self.ca = next((l.split()[3] for l in lines if l.startswith("osslocal CA certificate: ")), None)
        return self

    def kill(self, sig=signal.SIGKILL):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=20)

    def stop(self):
        self.kill(signal.SIGTERM)


