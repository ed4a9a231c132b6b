// Each operation builds the request the OSS API reference describes: method,
// path, query and headers, signed (V4 with a region, V1 without), and reads the
// answer it gets back.
import ObjectStore
import OSSCrypto
import Testing
@testable import OSSClient

private let etagHeader = ("ETag", "\"ABC\"")

/// Splits a recorded URL into path and query items (decoded).
func parts(_ url: String) -> (path: String, query: [String: String]) {
    let noScheme = url.split(separator: "://", maxSplits: 1)[1]
    let pathAndQuery = noScheme[noScheme.firstIndex(of: "/")!...]
    let split = pathAndQuery.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
    var query: [String: String] = [:]
    if split.count > 1 {
        for item in split[1].split(separator: "&") {
            let kv = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            query[URIEncoding.decode(kv[0])] = kv.count > 1 ? URIEncoding.decode(kv[1]) : ""
        }
    }
    return (URIEncoding.decode(split[0]), query)
}

@Suite struct OperationRequestTests {
    @Test func headObjectReadsEveryHeader() async throws {
        let transport = ScriptedTransport { _, _ in
            .ok([etagHeader, ("Content-Length", "42"), ("x-oss-object-type", "Appendable"),
                 ("x-oss-hash-crc64ecma", "18020588380933092773"), ("x-oss-next-append-position", "42"),
                 ("Last-Modified", "Tue, 02 Jan 2024 03:04:05 GMT"), ("x-oss-meta-Mode", "33188"),
                 ("Content-Type", "text/plain")])
        }
        let info = try await TestClient.make(transport).headObject("dir/a b+c.txt", ifMatch: ETag("\"X\""))
        let r = transport.requests[0]
        #expect(r.method == "HEAD")
        #expect(parts(r.url).path == "/bkt/dir/a b+c.txt")
        #expect(r.url.hasPrefix("http://127.0.0.1:9100/bkt/dir/a%20b%2Bc.txt"))
        #expect(r.headers["If-Match"] == "\"X\"")
        #expect(r.headers["Authorization"]!.hasPrefix("OSS4-HMAC-SHA256 Credential=AKIDTEST/20240102/cn-hangzhou/oss/aliyun_v4_request,Signature="))
        #expect(r.headers["x-oss-date"] == "20240102T030405Z")
        #expect(r.headers["x-oss-content-sha256"] == "UNSIGNED-PAYLOAD")
        #expect(r.headers["x-oss-security-token"] == "TokenSecretXYZ")
        #expect(info == ObjectInfo(key: "dir/a b+c.txt", size: 42, etag: ETag("\"ABC\""),
                                   lastModified: Timestamp(seconds: 1_704_164_645), type: .appendable,
                                   crc64: 18_020_588_380_933_092_773, contentType: "text/plain",
                                   userMetadata: ["mode": "33188"], nextAppendPosition: 42))
    }

    @Test func v1SigningWithoutRegion() async throws {
        let transport = ScriptedTransport { _, _ in .ok([etagHeader, ("Content-Length", "0")]) }
        _ = try await TestClient.make(transport, region: nil).headObject("k", ifMatch: nil)
        let r = transport.requests[0]
        #expect(r.headers["Authorization"]!.hasPrefix("OSS AKIDTEST:"))
        #expect(r.headers["Date"] == "Tue, 02 Jan 2024 03:04:05 GMT")
        // Recompute the V1 signature from the request as sent.
        let req = SigningRequest(method: "HEAD", bucket: "bkt", key: "k", headers: r.headers)
        #expect(SignerV1.authorization(req, credentials: TestClient.credentials) == r.headers["Authorization"])
    }

    @Test func rangedGetIntoCallerBuffer() async throws {
        let transport = ScriptedTransport { _, _ in
            .response(status: 206, headers: [etagHeader, ("Content-Range", "bytes 10-14/100"),
                                             ("x-oss-hash-crc64ecma", "1")], body: Array("hello".utf8))
        }
        let p = UnsafeMutableRawBufferPointer.allocate(byteCount: 5, alignment: 1)
        defer { p.deallocate() }
        let result = try await TestClient.make(transport).getObject("k", range: ByteRange(offset: 10, length: 5),
                                                                    ifMatch: ETag("\"ABC\""), into: .buffer(MutableBytes(p)))
        #expect(Array(p) == Array("hello".utf8))
        #expect(result.bytesRead == 5)
        #expect(result.info.size == 100)
        let r = transport.requests[0]
        #expect(r.method == "GET")
        #expect(r.headers["Range"] == "bytes=10-14")
        #expect(r.headers["x-oss-range-behavior"] == "standard")
        #expect(r.headers["If-Match"] == "\"ABC\"")
    }

    @Test func theTransportIsToldTheBodySizeWhenItIsKnown() async throws {
        let transport = ScriptedTransport { _, _ in .response(status: 206, headers: [etagHeader], body: []) }
        let client = TestClient.make(transport)
        _ = try await client.getBytes("k", range: ByteRange(offset: 8 << 20, length: 8 << 20))
        _ = try await client.getBytes("k", range: ByteRange(offset: 0, length: 1000))
        let p = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 1)
        defer { p.deallocate() }
        _ = try await client.getObject("k", range: nil, ifMatch: nil, into: .buffer(MutableBytes(p)))
        _ = try await client.getBytes("k")  // whole object collected: size unknown
        #expect(transport.expectedBodySizes == [8 << 20, 1000, 4096, nil])
    }

    @Test func bodyLongerThanTheBufferIsAnError() async throws {
        let transport = ScriptedTransport { _, _ in .ok([etagHeader], body: "0123456789") }
        let p = UnsafeMutableRawBufferPointer.allocate(byteCount: 4, alignment: 1)
        defer { p.deallocate() }
        await #expect(throws: ObjectStoreError.invalidResponse("GetObject k: body larger than the buffer")) {
            _ = try await TestClient.make(transport).getObject("k", range: nil, ifMatch: nil, into: .buffer(MutableBytes(p)))
        }
    }

    @Test func putObjectSendsBodyAndMetadata() async throws {
        let body = Array("payload".utf8)
        let transport = ScriptedTransport { _, _ in
            .ok([etagHeader, ("x-oss-hash-crc64ecma", String(CRC64.checksum(body)))])
        }
        let result = try await TestClient.make(transport).putObject(
            "a/b", bytes: body,
            options: WriteOptions(contentType: "text/plain", userMetadata: ["mode": "33188"], forbidOverwrite: true))
        let r = transport.requests[0]
        #expect(r.method == "PUT")
        #expect(parts(r.url).path == "/bkt/a/b")
        #expect(r.body.map { $0.withUnsafeBytes { Array($0) } } == body)
        #expect(r.headers["Content-Type"] == "text/plain")
        #expect(r.headers["x-oss-meta-mode"] == "33188")
        #expect(r.headers["x-oss-forbid-overwrite"] == "true")
        #expect(result.etag == ETag("\"ABC\""))
        #expect(result.crc64 == CRC64.checksum(body))
    }

    @Test func appendObjectQueryAndPosition() async throws {
        let body = Array("line\n".utf8)
        let transport = ScriptedTransport { _, _ in
            .ok([("ETag", "\"A\""), ("x-oss-next-append-position", "105"), ("x-oss-hash-crc64ecma", String(CRC64.combine(7, CRC64.checksum(body), 5)))])
        }
        let result = try await TestClient.make(transport).appendObject("log", position: 100, body: UploadBody(body),
                                                                       options: WriteOptions(), previousCRC: 7)
        let r = transport.requests[0]
        #expect(r.method == "POST")
        #expect(parts(r.url).query == ["append": "", "position": "100"])
        #expect(result.nextPosition == 105)
    }

    @Test func listObjectsV2ParamsAndDecoding() async throws {
        let xml = """
            <?xml version="1.0" encoding="UTF-8"?>
            <ListBucketResult><Name>bkt</Name><Prefix>dir%2F</Prefix><MaxKeys>2</MaxKeys><EncodingType>url</EncodingType>
            <IsTruncated>true</IsTruncated><NextContinuationToken>TOKEN2</NextContinuationToken>
            <Contents><Key>dir%2Fa%20b%2Bc.txt</Key><LastModified>2024-01-02T03:04:05.000Z</LastModified>
            <ETag>"E1"</ETag><Type>Normal</Type><Size>10</Size><StorageClass>Standard</StorageClass></Contents>
            <CommonPrefixes><Prefix>dir%2Fsub%2F</Prefix></CommonPrefixes>
            </ListBucketResult>
            """
        let transport = ScriptedTransport { _, _ in .ok(body: xml) }
        let page = try await TestClient.make(transport).listObjects(
            ListRequest(prefix: "dir/", delimiter: "/", maxKeys: 2, continuationToken: "TOKEN1", startAfter: "dir/0"))
        let r = transport.requests[0]
        #expect(r.method == "GET")
        #expect(parts(r.url).path == "/bkt/")
        #expect(parts(r.url).query == ["list-type": "2", "prefix": "dir/", "delimiter": "/", "max-keys": "2",
                                       "continuation-token": "TOKEN1", "start-after": "dir/0", "encoding-type": "url"])
        #expect(page.objects == [ObjectSummary(key: "dir/a b+c.txt", size: 10, etag: ETag("\"E1\""),
                                               lastModified: Timestamp(seconds: 1_704_164_645), type: .normal,
                                               storageClass: "Standard")])
        #expect(page.commonPrefixes == ["dir/sub/"])
        #expect(page.isTruncated)
        #expect(page.nextContinuationToken == "TOKEN2")
    }

    @Test func deleteOperations() async throws {
        let transport = ScriptedTransport { r, _ in
            r.method == "DELETE" ? .response(status: 204)
                : .ok(body: "<DeleteResult><EncodingType>url</EncodingType><Deleted><Key>a%26b</Key></Deleted><Deleted><Key>c</Key></Deleted></DeleteResult>")
        }
        let client = TestClient.make(transport)
        try await client.deleteObject("x")
        let deleted = try await client.deleteObjects(["a&b", "c"])
        #expect(deleted == ["a&b", "c"])
        #expect(transport.requests[0].method == "DELETE")
        let multi = transport.requests[1]
        #expect(multi.method == "POST")
        #expect(parts(multi.url).query == ["delete": "", "encoding-type": "url"])
        let body = multi.body!.withUnsafeBytes { Array($0) }
        #expect(String(decoding: body, as: UTF8.self).contains("<Key>a&amp;b</Key>"))
        #expect(multi.headers["Content-MD5"] == Base64.encode(Digest.md5(body)))
    }

    @Test func copyObjectHeaders() async throws {
        let transport = ScriptedTransport { _, _ in
            .ok(body: "<CopyObjectResult><ETag>\"C\"</ETag><LastModified>2024-01-02T03:04:05.000Z</LastModified></CopyObjectResult>")
        }
        let client = TestClient.make(transport)
        let r1 = try await client.copyObject(from: "src dir/f+1", to: "dst", directive: .copy, sourceIfMatch: ETag("\"S\""))
        _ = try await client.copyObject(from: "s", to: "d", directive: .replace(WriteOptions(userMetadata: ["mode": "420"])),
                                        sourceIfMatch: nil)
        #expect(r1.etag == ETag("\"C\""))
        let a = transport.requests[0], b = transport.requests[1]
        #expect(a.method == "PUT" && parts(a.url).path == "/bkt/dst")
        #expect(a.headers["x-oss-copy-source"] == "/bkt/src%20dir/f%2B1")
        #expect(a.headers["x-oss-metadata-directive"] == "COPY")
        #expect(a.headers["x-oss-copy-source-if-match"] == "\"S\"")
        #expect(b.headers["x-oss-metadata-directive"] == "REPLACE")
        #expect(b.headers["x-oss-meta-mode"] == "420")
    }

    @Test func multipartLifecycle() async throws {
        let part = Array(repeating: UInt8(ascii: "A"), count: 1000)
        let partCRC = CRC64.checksum(part)
        let transport = ScriptedTransport { r, _ in
            let q = parts(r.url).query
            switch (r.method, q["uploads"] != nil, q["partNumber"]) {
            case ("POST", true, _):
                return .ok(body: "<InitiateMultipartUploadResult><Bucket>bkt</Bucket><Key>big</Key><UploadId>UP1</UploadId></InitiateMultipartUploadResult>")
            case ("PUT", _, "1"):
                return .ok([("ETag", "\"P1\""), ("x-oss-hash-crc64ecma", String(partCRC))])
            case ("PUT", _, "2"):
                return .ok([("x-oss-hash-crc64ecma", "5")], body: "<CopyPartResult><ETag>\"P2\"</ETag></CopyPartResult>")
            case ("POST", false, _):
                return .ok([("x-oss-hash-crc64ecma", String(partCRC))],
                           body: "<CompleteMultipartUploadResult><ETag>\"M-1\"</ETag></CompleteMultipartUploadResult>")
            default:
                return .response(status: 204)
            }
        }
        let client = TestClient.make(transport)
        let id = try await client.initiateMultipartUpload("big", options: WriteOptions(contentType: "application/x"))
        let p1 = try await client.uploadPart("big", uploadId: id, partNumber: 1, body: UploadBody(part))
        let p2 = try await client.uploadPartCopy("big", uploadId: id, partNumber: 2, source: "src",
                                                 range: ByteRange(0, 1024), sourceIfMatch: nil)
        let done = try await client.completeMultipartUpload("big", uploadId: id, parts: [p1])
        try await client.abortMultipartUpload("big", uploadId: id)
        #expect(id == "UP1")
        #expect(p1 == PartInfo(number: 1, etag: ETag("\"P1\""), size: 1000, crc64: partCRC))
        #expect(p2.etag == ETag("\"P2\"") && p2.size == 1024)
        #expect(done.etag == ETag("\"M-1\""))
        let rs = transport.requests
        #expect(parts(rs[0].url).query == ["uploads": ""])
        #expect(rs[0].headers["Content-Type"] == "application/x")
        #expect(parts(rs[1].url).query == ["partNumber": "1", "uploadId": "UP1"])
        #expect(rs[2].headers["x-oss-copy-source"] == "/bkt/src")
        #expect(rs[2].headers["x-oss-copy-source-range"] == "bytes=0-1023")
        #expect(parts(rs[3].url).query == ["uploadId": "UP1"])
        let completeBody = String(decoding: rs[3].body!.withUnsafeBytes { Array($0) }, as: UTF8.self)
        #expect(completeBody == "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>&quot;P1&quot;</ETag></Part></CompleteMultipartUpload>")
        #expect(rs[4].method == "DELETE" && parts(rs[4].url).query == ["uploadId": "UP1"])
    }

    @Test func multipartListings() async throws {
        let transport = ScriptedTransport { r, _ in
            parts(r.url).query["uploads"] != nil
                ? .ok(body: "<ListMultipartUploadsResult><EncodingType>url</EncodingType><IsTruncated>false</IsTruncated><Upload><Key>a%20b</Key><UploadId>U1</UploadId><Initiated>2024-01-02T03:04:05.000Z</Initiated></Upload></ListMultipartUploadsResult>")
                : .ok(body: "<ListPartsResult><IsTruncated>true</IsTruncated><NextPartNumberMarker>1</NextPartNumberMarker><Part><PartNumber>1</PartNumber><ETag>\"P\"</ETag><Size>5</Size><HashCrc64ecma>9</HashCrc64ecma></Part></ListPartsResult>")
        }
        let client = TestClient.make(transport)
        let partsPage = try await client.listParts("k", uploadId: "U1", partNumberMarker: nil, maxParts: 1000)
        let uploads = try await client.listMultipartUploads(prefix: "", keyMarker: nil, uploadIdMarker: nil, maxUploads: 1000)
        #expect(partsPage == PartsPage(parts: [PartInfo(number: 1, etag: ETag("\"P\""), size: 5, crc64: 9)],
                                       isTruncated: true, nextPartNumberMarker: 1))
        #expect(uploads.uploads == [UploadSummary(key: "a b", uploadId: "U1", initiated: Timestamp(seconds: 1_704_164_645))])
        #expect(parts(transport.requests[0].url).query == ["uploadId": "U1", "max-parts": "1000"])
        #expect(parts(transport.requests[1].url).query["uploads"] == "")
    }

    @Test func symlinks() async throws {
        let transport = ScriptedTransport { r, _ in
            r.method == "PUT" ? .ok([etagHeader])
                : .ok([etagHeader, ("x-oss-symlink-target", "dir/t%20x.txt"), ("x-oss-meta-a", "1")])
        }
        let client = TestClient.make(transport)
        _ = try await client.putSymlink("link", target: "dir/t x.txt", options: WriteOptions())
        let info = try await client.getSymlink("link")
        #expect(info.target == "dir/t x.txt")
        #expect(info.userMetadata == ["a": "1"])
        #expect(parts(transport.requests[0].url).query == ["symlink": ""])
        #expect(transport.requests[0].headers["x-oss-symlink-target"] == "dir/t%20x.txt")
        #expect(transport.requests[1].method == "GET")
    }

    @Test func presignedURLsAreSigned() async throws {
        let transport = ScriptedTransport { _, _ in .ok() }
        let url = try await TestClient.make(transport).presignedURL(key: "a b", expiresIn: 60)
        #expect(url.hasPrefix("http://127.0.0.1:9100/bkt/a%20b?x-oss-signature-version=OSS4-HMAC-SHA256&x-oss-date=20240102T030405Z&x-oss-expires=60"))
        #expect(url.contains("&x-oss-signature="))
    }
}
