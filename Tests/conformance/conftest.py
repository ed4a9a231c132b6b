"""Fixtures for the osslocal conformance suite: real osslocal processes (one
with plain keys, one that demands an STS token) and SDK clients for every
combination of official SDK, signature version and credential kind."""
import os
import pathlib
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

from adapters import make_client
from osslocal_process import BINARY, BUCKET, REGION, Server  # noqa: F401  (re-exported for the tests)

@pytest.fixture(scope="session")
def servers():
    """With OSSLOCAL_TLS=1 both servers speak HTTPS (one CA osslocal made, which the
    SDKs trust through REQUESTS_CA_BUNDLE); plain HTTP otherwise."""
    if not BINARY.exists():
        pytest.fail(f"{BINARY} is missing: run `swift build` first")
    base = tempfile.mkdtemp(prefix="osslocal-conformance-")
    pki = os.path.join(base, "pki")
    tls = os.environ.get("OSSLOCAL_TLS") == "1"
    plain = Server(os.path.join(base, "plain"), "LTAI5tPlainKey", "PlainSecret0123456789",
                   extra=["--tls-self-signed", pki] if tls else []).start()
    if tls:
        os.environ["REQUESTS_CA_BUNDLE"] = plain.ca
    sts = Server(os.path.join(base, "sts"), "STS.TempKey", "StsSecret0123456789", token="CAISTokenValue+/=xyz",
                 extra=["--tls-cert", f"{pki}/server.pem", "--tls-key", f"{pki}/server-key.pem"] if tls else []).start()
    yield {"plain": plain, "sts": sts}
    plain.stop()
    sts.stop()
    shutil.rmtree(base, ignore_errors=True)


COMBOS = [(sdk, ver, cred) for sdk in ("oss2", "v2sdk") for ver in ("v1", "v4") for cred in ("plain", "sts")]


@pytest.fixture(params=COMBOS, ids=["-".join(c) for c in COMBOS])
def client(request, servers):
    sdk, ver, cred = request.param
    s = servers[cred]
    return make_client(sdk, ver, s.endpoint, BUCKET, REGION, s.access_key_id, s.secret, s.token)


@pytest.fixture
def key(request):
    """A key unique to the test (and its parameters)."""
    safe = request.node.name.replace("[", "/").replace("]", "")
    return f"t/{safe}/obj"
