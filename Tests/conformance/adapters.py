"""One small interface over the two official Python SDKs, so that every
conformance test runs with both: oss2 and alibabacloud-oss-v2."""
import datetime

import oss2
import alibabacloud_oss_v2 as oss


class SDKError(Exception):
    def __init__(self, status, code):
        super().__init__(f"{status} {code}")
        self.status, self.code = status, code


class Oss2Client:
    sdk = "oss2"

    def __init__(self, version, endpoint, bucket, region, ak, sk, token):
        if token:
            auth = oss2.StsAuth(ak, sk, token, auth_version="v4" if version == "v4" else "v1")
        else:
            auth = oss2.AuthV4(ak, sk) if version == "v4" else oss2.Auth(ak, sk)
        self.b = oss2.Bucket(auth, endpoint, bucket, region=region, is_path_style=True)
        self.bucket = bucket

    def call(self, fn, *a, **kw):
        try:
            return fn(*a, **kw)
        except oss2.exceptions.OssError as e:
            raise SDKError(e.status, e.code) from None

    def put(self, key, data, headers=None):
        r = self.call(self.b.put_object, key, data, headers=headers)
        return {"etag": r.etag, "crc": r.crc}

    def get(self, key, byte_range=None, headers=None):
        return self.call(self.b.get_object, key, byte_range=byte_range, headers=headers).read()

    def head(self, key):
        r = self.call(self.b.head_object, key)
        return {"size": r.content_length, "etag": r.etag, "type": r.object_type, "crc": int(r.headers["x-oss-hash-crc64ecma"]),
                "meta": {k.lower()[len("x-oss-meta-"):]: v for k, v in r.headers.items() if k.lower().startswith("x-oss-meta-")}}

    def meta(self, key):
        r = self.call(self.b.get_object_meta, key)
        return {"size": r.content_length, "etag": r.etag, "headers": {k.lower() for k in r.headers}}

    def append(self, key, position, data):
        r = self.call(self.b.append_object, key, position, data)
        return {"next": r.next_position, "crc": r.crc}

    def list_v2(self, prefix="", delimiter="", max_keys=100, token="", start_after=""):
        r = self.call(self.b.list_objects_v2, prefix=prefix, delimiter=delimiter, continuation_token=token,
                      start_after=start_after, max_keys=max_keys)
        return {"keys": [o.key for o in r.object_list], "prefixes": list(r.prefix_list),
                "truncated": r.is_truncated, "token": r.next_continuation_token}

    def delete(self, key):
        self.call(self.b.delete_object, key)

    def delete_many(self, keys):
        return sorted(self.call(self.b.batch_delete_objects, keys).deleted_keys)

    def copy(self, src, dst, meta=None):
        headers = None
        if meta is not None:
            headers = {"x-oss-metadata-directive": "REPLACE", **{f"x-oss-meta-{k}": v for k, v in meta.items()}}
        self.call(self.b.copy_object, self.bucket, src, dst, headers=headers)

    def mpu_init(self, key):
        return self.call(self.b.init_multipart_upload, key).upload_id

    def mpu_part(self, key, upload_id, n, data):
        return self.call(self.b.upload_part, key, upload_id, n, data).etag

    def mpu_part_copy(self, key, upload_id, n, src, first, last):
        return self.call(self.b.upload_part_copy, self.bucket, src, (first, last), key, upload_id, n).etag

    def mpu_complete(self, key, upload_id, parts):
        r = self.call(self.b.complete_multipart_upload, key, upload_id, [oss2.models.PartInfo(n, e) for n, e in parts])
        return {"crc": r.crc, "etag": r.etag}

    def mpu_abort(self, key, upload_id):
        self.call(self.b.abort_multipart_upload, key, upload_id)

    def mpu_list_parts(self, key, upload_id):
        return [(p.part_number, p.size) for p in self.call(self.b.list_parts, key, upload_id).parts]

    def mpu_list_uploads(self, prefix):
        return [(u.key, u.upload_id) for u in self.call(self.b.list_multipart_uploads, prefix=prefix).upload_list]

    def symlink(self, link, target):
        self.call(self.b.put_symlink, target, link)

    def readlink(self, link):
        return self.call(self.b.get_symlink, link).target_key

    def presign(self, method, key, seconds):
        return self.b.sign_url(method, key, seconds)


class V2Client:
    sdk = "v2sdk"

    def __init__(self, version, endpoint, bucket, region, ak, sk, token):
        cfg = oss.config.load_default()
        cfg.credentials_provider = oss.credentials.StaticCredentialsProvider(ak, sk, token)
        cfg.region = region
        cfg.endpoint = endpoint
        cfg.use_path_style = True
        cfg.signature_version = version
        cfg.retry_max_attempts = 1
        self.c = oss.Client(cfg)
        self.bucket = bucket

    def call(self, fn, req):
        try:
            return fn(req)
        except oss.exceptions.OperationError as e:
            se = e.unwrap()
            raise SDKError(getattr(se, "status_code", None), getattr(se, "code", None)) from None

    def put(self, key, data, headers=None):
        r = self.call(self.c.put_object, oss.PutObjectRequest(bucket=self.bucket, key=key, body=data, headers=headers or {}))
        return {"etag": r.etag.strip('"'), "crc": int(r.hash_crc64)}

    def get(self, key, byte_range=None, headers=None):
        rng = f"bytes={byte_range[0]}-{byte_range[1]}" if byte_range else None
        r = self.call(self.c.get_object, oss.GetObjectRequest(bucket=self.bucket, key=key, range_header=rng, headers=headers or {}))
        return r.body.read()

    def head(self, key):
        r = self.call(self.c.head_object, oss.HeadObjectRequest(bucket=self.bucket, key=key))
        return {"size": r.content_length, "etag": r.etag.strip('"'), "type": r.object_type, "crc": int(r.hash_crc64),
                "meta": {k.lower(): v for k, v in (r.metadata or {}).items()}}

    def meta(self, key):
        r = self.call(self.c.get_object_meta, oss.GetObjectMetaRequest(bucket=self.bucket, key=key))
        return {"size": r.content_length, "etag": r.etag.strip('"'), "headers": {k.lower() for k in r.headers}}

    def append(self, key, position, data):
        r = self.call(self.c.append_object, oss.AppendObjectRequest(bucket=self.bucket, key=key, position=position, body=data))
        return {"next": r.next_position, "crc": int(r.hash_crc64)}

    def list_v2(self, prefix="", delimiter="", max_keys=100, token="", start_after=""):
        r = self.call(self.c.list_objects_v2, oss.ListObjectsV2Request(
            bucket=self.bucket, prefix=prefix or None, delimiter=delimiter or None, max_keys=max_keys,
            continuation_token=token or None, start_after=start_after or None))
        return {"keys": [o.key for o in (r.contents or [])], "prefixes": [p.prefix for p in (r.common_prefixes or [])],
                "truncated": r.is_truncated, "token": r.next_continuation_token}

    def delete(self, key):
        self.call(self.c.delete_object, oss.DeleteObjectRequest(bucket=self.bucket, key=key))

    def delete_many(self, keys):
        r = self.call(self.c.delete_multiple_objects, oss.DeleteMultipleObjectsRequest(
            bucket=self.bucket, objects=[oss.DeleteObject(key=k) for k in keys]))
        return sorted(o.key for o in r.deleted_objects)

    def copy(self, src, dst, meta=None):
        req = oss.CopyObjectRequest(bucket=self.bucket, key=dst, source_bucket=self.bucket, source_key=src)
        if meta is not None:
            req.metadata_directive = "REPLACE"
            req.metadata = meta
        self.call(self.c.copy_object, req)

    def mpu_init(self, key):
        return self.call(self.c.initiate_multipart_upload, oss.InitiateMultipartUploadRequest(bucket=self.bucket, key=key)).upload_id

    def mpu_part(self, key, upload_id, n, data):
        return self.call(self.c.upload_part, oss.UploadPartRequest(bucket=self.bucket, key=key, upload_id=upload_id,
                                                                    part_number=n, body=data)).etag

    def mpu_part_copy(self, key, upload_id, n, src, first, last):
        return self.call(self.c.upload_part_copy, oss.UploadPartCopyRequest(
            bucket=self.bucket, key=key, upload_id=upload_id, part_number=n, source_bucket=self.bucket,
            source_key=src, source_range=f"bytes={first}-{last}")).etag

    def mpu_complete(self, key, upload_id, parts):
        r = self.call(self.c.complete_multipart_upload, oss.CompleteMultipartUploadRequest(
            bucket=self.bucket, key=key, upload_id=upload_id,
            complete_multipart_upload=oss.CompleteMultipartUpload(parts=[oss.UploadPart(part_number=n, etag=e) for n, e in parts])))
        return {"crc": int(r.hash_crc64), "etag": r.etag.strip('"')}

    def mpu_abort(self, key, upload_id):
        self.call(self.c.abort_multipart_upload, oss.AbortMultipartUploadRequest(bucket=self.bucket, key=key, upload_id=upload_id))

    def mpu_list_parts(self, key, upload_id):
        r = self.call(self.c.list_parts, oss.ListPartsRequest(bucket=self.bucket, key=key, upload_id=upload_id))
        return [(p.part_number, p.size) for p in (r.parts or [])]

    def mpu_list_uploads(self, prefix):
        r = self.call(self.c.list_multipart_uploads, oss.ListMultipartUploadsRequest(bucket=self.bucket, prefix=prefix))
        return [(u.key, u.upload_id) for u in (r.uploads or [])]

    def symlink(self, link, target):
        self.call(self.c.put_symlink, oss.PutSymlinkRequest(bucket=self.bucket, key=link, target=target))

    def readlink(self, link):
        return self.call(self.c.get_symlink, oss.GetSymlinkRequest(bucket=self.bucket, key=link)).target

    def presign(self, method, key, seconds):
        req = oss.GetObjectRequest(bucket=self.bucket, key=key) if method == "GET" else oss.PutObjectRequest(bucket=self.bucket, key=key)
        return self.c.presign(req, expires=datetime.timedelta(seconds=seconds)).url


def make_client(sdk, version, endpoint, bucket, region, ak, sk, token):
    cls = Oss2Client if sdk == "oss2" else V2Client
    return cls(version, endpoint, bucket, region, ak, sk, token)
