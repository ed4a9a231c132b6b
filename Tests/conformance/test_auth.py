"""Requests that OSS refuses must be refused by osslocal with the same code:
wrong secret, a signed header changed after signing, a changed query
parameter, a skewed clock, an expired presigned URL, a wrong STS token."""
import datetime
import time

import oss2
import pytest
import requests

from adapters import SDKError, make_client
from conftest import BUCKET, REGION

VERSIONS = ["v1", "v4"]


def oss2_auth(version, ak, sk, token=None):
    if token is not None:
        return oss2.StsAuth(ak, sk, token, auth_version=version)
    return oss2.AuthV4(ak, sk) if version == "v4" else oss2.Auth(ak, sk)


def bucket(server, version, secret=None, token=None):
    auth = oss2_auth(version, server.access_key_id, secret or server.secret, token)
    return oss2.Bucket(auth, server.endpoint, BUCKET, region=REGION, is_path_style=True)


def error_code(fn):
    with pytest.raises(oss2.exceptions.OssError) as info:
        fn()
    return info.value.code


def xml_code(resp):
    text = resp.text
    return text.split("<Code>")[1].split("</Code>")[0] if "<Code>" in text else None


@pytest.mark.parametrize("version", VERSIONS)
def test_wrong_secret(servers, version):
    b = bucket(servers["plain"], version, secret="not-the-secret")
    assert error_code(lambda: b.put_object("auth/x", b"1")) == "SignatureDoesNotMatch"
    assert error_code(lambda: b.get_object("auth/x")) == "SignatureDoesNotMatch"


@pytest.mark.parametrize("sdk", ["oss2", "v2sdk"])
@pytest.mark.parametrize("version", VERSIONS)
def test_wrong_secret_both_sdks(servers, sdk, version):
    s = servers["plain"]
    c = make_client(sdk, version, s.endpoint, BUCKET, REGION, s.access_key_id, "wrong", None)
    with pytest.raises(SDKError) as info:
        c.put("auth/y", b"1")
    assert info.value.code == "SignatureDoesNotMatch"


@pytest.mark.parametrize("version", VERSIONS)
def test_unknown_access_key(servers, version):
    s = servers["plain"]
    b = oss2.Bucket(oss2_auth(version, "LTAI5tNobody", "x"), s.endpoint, BUCKET, region=REGION, is_path_style=True)
    assert error_code(lambda: b.get_object("auth/x")) == "InvalidAccessKeyId"


@pytest.mark.parametrize("version", VERSIONS)
def test_tampered_signed_header(servers, version):
    s = servers["plain"]
    auth = oss2_auth(version, s.access_key_id, s.secret)
    url = f"{s.endpoint}/{BUCKET}/auth/tampered"
    req = oss2.http.Request("PUT", url, data=b"x", headers={"x-oss-meta-owner": "alice"}, region=REGION,
                            product="oss")
    auth._sign_request(req, BUCKET, "auth/tampered")
    good = dict(req.headers)
    bad = dict(good, **{"x-oss-meta-owner": "mallory"})
    r = requests.put(url, data=b"x", headers=bad)
    assert (r.status_code, xml_code(r)) == (403, "SignatureDoesNotMatch")
    assert "<StringToSign>" in r.text
    r = requests.put(url, data=b"x", headers=good)
    assert r.status_code == 200


@pytest.mark.parametrize("version", VERSIONS)
def test_changed_query_parameter(servers, version):
    s = servers["plain"]
    b = bucket(s, version)
    b.put_object("auth/q", b"q")
    url = b.sign_url("GET", "auth/q", 300, params={"response-content-type": "text/plain"})
    assert requests.get(url).status_code == 200
    r = requests.get(url.replace("response-content-type=text%2Fplain", "response-content-type=text%2Fhtml"))
    assert (r.status_code, xml_code(r)) == (403, "SignatureDoesNotMatch")


class _Past(datetime.datetime):
    """datetime whose utcnow is 20 minutes ago (for oss2's V4 signer)."""

    @classmethod
    def utcnow(cls):
        return datetime.datetime.utcnow() - datetime.timedelta(minutes=20)


@pytest.mark.parametrize("version", VERSIONS)
def test_skewed_date(servers, version, monkeypatch):
    b = bucket(servers["plain"], version)
    past = time.time() - 20 * 60
    monkeypatch.setattr(oss2.utils, "http_date", lambda t=None: time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(past)))
    monkeypatch.setattr(oss2.auth, "datetime", _Past)
    assert error_code(lambda: b.get_object("auth/skew")) == "RequestTimeTooSkewed"


@pytest.mark.parametrize("version", VERSIONS)
def test_expired_presigned_url(servers, version, monkeypatch):
    b = bucket(servers["plain"], version)
    b.put_object("auth/expired", b"e")
    if version == "v1":
        url = b.sign_url("GET", "auth/expired", -60)  # Expires is absolute: a minute ago
    else:
        monkeypatch.setattr(oss2.auth, "datetime", _Past)
        url = b.sign_url("GET", "auth/expired", 60)  # signed 20 minutes ago, valid for 1
    r = requests.get(url)
    assert (r.status_code, xml_code(r)) == (403, "AccessDenied")
    assert "expired" in r.text


@pytest.mark.parametrize("version", VERSIONS)
def test_wrong_or_missing_sts_token(servers, version):
    s = servers["sts"]
    wrong = bucket(s, version, token="CAISWrongToken")
    assert error_code(lambda: wrong.get_object("auth/sts")) == "InvalidSecurityToken"
    missing = bucket(s, version)
    assert error_code(lambda: missing.get_object("auth/sts")) == "InvalidSecurityToken"
    right = bucket(s, version, token=s.token)
    right.put_object("auth/sts", b"ok")
    assert right.get_object("auth/sts").read() == b"ok"


def test_unsigned_request_is_denied(servers):
    r = requests.get(f"{servers['plain'].endpoint}/{BUCKET}/auth/x")
    assert (r.status_code, xml_code(r)) == (403, "AccessDenied")


@pytest.mark.parametrize("version", VERSIONS)
def test_virtual_hosted_style(servers, version):
    """A Host of BUCKET.<domain> addresses the bucket, as on real OSS endpoints."""
    s = servers["plain"]
    auth = oss2_auth(version, s.access_key_id, s.secret)
    port = s.endpoint.rsplit(":", 1)[1]
    host = f"{BUCKET}.localhost:{port}"
    url = f"http://{host}/vhost/obj"
    req = oss2.http.Request("PUT", url, data=b"virtual", headers={}, region=REGION, product="oss")
    auth._sign_request(req, BUCKET, "vhost/obj")
    r = requests.put(f"{s.endpoint}/vhost/obj", data=b"virtual", headers=dict(req.headers, Host=host))
    assert r.status_code == 200, r.text
    assert bucket(s, version).get_object("vhost/obj").read() == b"virtual"
