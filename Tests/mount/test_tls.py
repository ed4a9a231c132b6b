"""HTTPS end to end, the path every user takes: osslocal serves TLS (its own CA,
or certificates made here that are wrong on purpose), ossmount verifies it.
Reads, writes and listings go through the mount over HTTPS and are checked
with oss2 trusting the same CA; each certificate error fails the mount with the
line that names it; `insecure` mounts and warns; and connections (so TLS
handshakes) are reused across a thousand small reads."""
import datetime
import ipaddress
import json
import os
import shutil
import subprocess
import tempfile
import time

import oss2
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from conftest import BUCKET, OSSMOUNT, REGION, Server, wait_until

KEY, SECRET = "LTAI5tTlsTests", "TlsTestsSecret0123"


@pytest.fixture(scope="module")
def base():
    d = tempfile.mkdtemp(prefix="ossmount-tls-")
    yield d
    for line in open("/proc/mounts"):
        if line.split()[1].startswith(d):
            subprocess.run(["fusermount3", "-uz", line.split()[1]], check=False)
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def tls_server(base):
    """osslocal with plain HTTP and HTTPS side by side, on a CA it made."""
    log = os.path.join(base, "requests.log")
    server = Server(os.path.join(base, "root"), KEY, SECRET,
                    extra=["--tls-self-signed", os.path.join(base, "pki"), "--tls-listen", "127.0.0.1:0",
                           "--request-log", log]).start()
    server.log = log
    yield server
    server.stop()


def oss2_bucket(server):
    """oss2 over HTTPS, trusting osslocal's CA."""
    session = oss2.Session()
    session.session.verify = server.ca
    session.session.trust_env = False  # REQUESTS_CA_BUNDLE would win over `verify`
    return oss2.Bucket(oss2.AuthV4(KEY, SECRET), server.https_endpoint, BUCKET, region=REGION, is_path_style=True,
                       session=session)


def mount(endpoint, mnt, options, env=None):
    env = env or dict(os.environ, OSS_ACCESS_KEY_ID=KEY, OSS_ACCESS_KEY_SECRET=SECRET)
    started = time.monotonic()
    r = subprocess.run([str(OSSMOUNT), BUCKET, mnt, "-o", f"endpoint={endpoint},region={REGION}," + options],
                       env=env, capture_output=True, text=True, timeout=60)
    return r, time.monotonic() - started


def unmount(mnt):
    subprocess.run(["fusermount3", "-u", mnt], check=False)
    assert wait_until(lambda: not os.path.ismount(mnt))


def test_read_write_list_over_https_cross_checked_with_oss2(tls_server, base):
    bucket = oss2_bucket(tls_server)
    data = os.urandom(3 << 20) + b"tail"  # more than one chunk of the server's TLS file path
    bucket.put_object("https/in.bin", data)
    mnt = tempfile.mkdtemp(prefix="mnt-", dir=base)
    r, _ = mount(tls_server.https_endpoint, mnt, f"ca_bundle={tls_server.ca}")
    assert r.returncode == 0, r.stderr
    try:
        with open(os.path.join(mnt, "https/in.bin"), "rb") as f:
            assert f.read() == data
        out = os.urandom(20 << 20)  # a multipart upload over TLS
        with open(os.path.join(mnt, "https/out.bin"), "wb") as f:
            f.write(out)
        os.mkdir(os.path.join(mnt, "https/dir"))
        assert sorted(os.listdir(os.path.join(mnt, "https"))) == ["dir", "in.bin", "out.bin"]
    finally:
        unmount(mnt)
    assert bucket.get_object("https/out.bin").read() == out
    assert sorted(o.key for o in oss2.ObjectIterator(bucket, prefix="https/")) == \
        ["https/dir/", "https/in.bin", "https/out.bin"]


def make_pki(directory, names, not_before, not_after, ca=None):
    """A CA (or `ca` = (cert, key) reused) and a server certificate for `names`."""
    os.makedirs(directory, exist_ok=True)
    now = datetime.datetime.now(datetime.timezone.utc)
    if ca is None:
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test CA " + os.path.basename(directory))])
        ca_cert = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
                   .serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(days=30)).not_valid_after(now + datetime.timedelta(days=30))
                   .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                   .sign(ca_key, hashes.SHA256()))
    else:
        ca_cert, ca_key = ca
    key = ec.generate_private_key(ec.SECP256R1())
    sans = [x509.IPAddress(ipaddress.ip_address(n)) if n[0].isdigit() else x509.DNSName(n) for n in names]
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
            .issuer_name(ca_cert.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now + not_before).not_valid_after(now + not_after)
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = {name: os.path.join(directory, name) for name in ("ca.pem", "server.pem", "server-key.pem")}
    with open(paths["ca.pem"], "wb") as f:
        f.write(ca_cert.public_bytes(serialization.Encoding.PEM))
    with open(paths["server.pem"], "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(paths["server-key.pem"], "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    return paths, (ca_cert, ca_key)


DAY = datetime.timedelta(days=1)


@pytest.mark.parametrize("case,names,not_before,not_after,trust,line", [
    ("wrong-ca", ["127.0.0.1", "localhost"], -DAY, DAY, "other", "is not signed by the CA in ca_bundle"),
    ("system-store", ["127.0.0.1", "localhost"], -DAY, DAY, None, "is not signed by the system's CAs"),
    ("expired", ["127.0.0.1", "localhost"], -3 * DAY, -DAY, "own", "has expired or is not yet valid"),
    ("host-mismatch", ["oss.example.com"], -DAY, DAY, "own", "is not for that host name"),
    ("unreadable-ca", ["127.0.0.1"], -DAY, DAY, "garbage", "cannot be read as PEM CA certificates"),
])
def test_each_certificate_error_gives_its_line(base, case, names, not_before, not_after, trust, line):
    paths, _ = make_pki(os.path.join(base, case), names, not_before, not_after)
    server = Server(os.path.join(base, case, "root"), KEY, SECRET,
                    extra=["--tls-cert", paths["server.pem"], "--tls-key", paths["server-key.pem"]]).start()
    mnt = tempfile.mkdtemp(prefix="mnt-", dir=base)
    try:
        assert server.endpoint.startswith("https://")
        options = "ca_bundle=" + {"own": paths["ca.pem"],
                                  "other": make_pki(os.path.join(base, case + "-other"), names, -DAY, DAY)[0]["ca.pem"],
                                  "garbage": os.path.join(base, case, "server-key.pem"), None: ""}[trust]
        r, seconds = mount(server.endpoint, mnt, options if trust else "attr_timeout=60")
        assert r.returncode != 0 and not os.path.ismount(mnt)
        assert seconds < 10
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and line in lines[0], r.stderr
        assert "TLS" in lines[0] and ("ca_bundle" in lines[0] or "renew" in lines[0] or "host name" in lines[0])
    finally:
        server.stop()


def test_insecure_mounts_without_verification_and_warns(tls_server, base):
    mnt = tempfile.mkdtemp(prefix="mnt-", dir=base)
    r, _ = mount(tls_server.https_endpoint, mnt, "insecure")
    assert r.returncode == 0, r.stderr
    try:
        warned = [l for l in r.stderr.splitlines() if l.startswith("ossmount: warning: insecure")]
        assert len(warned) == 1, r.stderr
        oss2_bucket(tls_server).put_object("insecure/x.txt", b"unverified but encrypted")
        with open(os.path.join(mnt, "insecure/x.txt"), "rb") as f:
            assert f.read() == b"unverified but encrypted"
    finally:
        unmount(mnt)


def test_a_thousand_small_reads_reuse_their_tls_connections(tls_server, base):
    """Each read below reaches osslocal (direct_io, no attribute cache), one after
    another: they all go over the connections already set up, so the handshakes
    stay within the connections a single reader keeps, not one per request."""
    bucket = oss2_bucket(tls_server)
    for i in range(100):
        bucket.put_object(f"small/{i:03d}", os.urandom(4096))
    mnt = tempfile.mkdtemp(prefix="mnt-", dir=base)
    with open(tls_server.log) as f:
        before = len(f.readlines())
    r, _ = mount(tls_server.https_endpoint, mnt, f"ca_bundle={tls_server.ca},direct_io,attr_timeout=0,entry_timeout=0")
    assert r.returncode == 0, r.stderr
    try:
        for _ in range(10):
            for i in range(100):
                with open(os.path.join(mnt, f"small/{i:03d}"), "rb") as f:
                    assert len(f.read()) == 4096
    finally:
        unmount(mnt)
    with open(tls_server.log) as f:
        entries = [json.loads(line) for line in f.readlines()[before:]]
    requests = [e for e in entries if e["op"] != "tlsHandshake"]
    handshakes = [e for e in entries if e["op"] == "tlsHandshake"]
    assert len(requests) >= 1000
    assert 1 <= len(handshakes) <= 8, f"{len(handshakes)} handshakes for {len(requests)} requests"
    print(f"{len(handshakes)} TLS handshakes for {len(requests)} requests")
