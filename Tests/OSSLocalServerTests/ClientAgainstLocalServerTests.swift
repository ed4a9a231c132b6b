// Every OSSClient operation end to end: OSSClient → CurlTransport → HTTP →
// osslocal, signed V1 and V4.
import ObjectStore
import OSSClient
import OSSCrypto
import Testing
@testable import OSSLocalServer

@Suite struct ClientAgainstLocalServerTests {
    @Test(arguments: ["cn-hangzhou", nil] as [String?])
    func objectOperations(region: String?) async throws {
        let f = try LocalFixture()
        defer { f.shutdown() }
        let c = f.client(region: region)
        let data = pattern(200_000, seed: 1)
        let put = try await c.putObject("dir/a b+c.txt", bytes: data,
                                        options: WriteOptions(contentType: "text/plain", userMetadata: ["mode": "33188"]))
        #expect(put.crc64 == CRC64.checksum(data))
        #expect(try await c.getBytes("dir/a b+c.txt") == data)
        let info = try await c.headObject("dir/a b+c.txt")
        #expect(info.size == 200_000 && info.etag == put.etag && info.userMetadata == ["mode": "33188"])
        #expect(info.contentType == "text/plain" && info.crc64 == put.crc64 && info.type == .normal)

        // A ranged read straight into a caller buffer, pinned to the ETag.
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1000, alignment: 1)
        defer { buffer.deallocate() }
        let got = try await c.getObject("dir/a b+c.txt", range: ByteRange(offset: 5000, length: 1000), ifMatch: put.etag,
                                        into: .buffer(MutableBytes(buffer)))
        #expect(got.bytesRead == 1000 && Array(buffer) == Array(data[5000..<6000]))
        #expect(await serviceCode { _ = try await c.getBytes("dir/a b+c.txt", ifMatch: ETag("\"0000\"")) } == "PreconditionFailed")
        #expect(await serviceCode { _ = try await c.getBytes("dir/a b+c.txt", range: ByteRange(300_000, 300_001)) } == "InvalidRange")
        #expect(await serviceCode { _ = try await c.headObject("missing") } == "NoSuchKey")
        #expect(await serviceCode { _ = try await c.getBytes("missing") } == "NoSuchKey")

        _ = try await c.copyObject(from: "dir/a b+c.txt", to: "copy", directive: .replace(WriteOptions(userMetadata: ["mode": "420"])),
                                   sourceIfMatch: put.etag)
        #expect(try await c.headObject("copy").userMetadata == ["mode": "420"])
        #expect(try await c.getBytes("copy") == data)

        _ = try await c.putSymlink("link", target: "dir/a b+c.txt", options: WriteOptions())
        #expect(try await c.getSymlink("link").target == "dir/a b+c.txt")
        #expect(try await c.getBytes("link") == data)
        #expect(await serviceCode { _ = try await c.getSymlink("copy") } == "NotSymlink")

        try await c.deleteObject("copy")
        #expect(try await c.deleteObjects(["link", "nothing"]).sorted() == ["link", "nothing"])
        #expect(await serviceCode { _ = try await c.headObject("copy") } == "NoSuchKey")
        #expect(await serviceCode { _ = try await c.putObject("dir/a b+c.txt", bytes: [1], options: WriteOptions(forbidOverwrite: true)) }
                == "FileAlreadyExists")
    }

    @Test func pagingThrough2500Keys() async throws {
        let f = try LocalFixture(memory: true)
        defer { f.shutdown() }
        let c = f.client()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for batch in 0..<10 {
                group.addTask {
                    for i in stride(from: batch, to: 2500, by: 10) { _ = try await c.putObject("many/k\(i)", bytes: []) }
                }
            }
            try await group.waitForAll()
        }
        _ = try await c.putObject("many/sub/x", bytes: [])
        var keys: [String] = [], prefixes: [String] = [], pages = 0
        var token: String?
        repeat {
            let page = try await c.listObjects(ListRequest(prefix: "many/", delimiter: "/", maxKeys: 1000, continuationToken: token))
            keys += page.objects.map(\.key)
            prefixes += page.commonPrefixes
            token = page.nextContinuationToken
            pages += 1
        } while token != nil
        #expect(pages == 3)
        #expect(keys.count == 2500 && Set(keys).count == 2500)
        #expect(keys == keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) })
        #expect(prefixes == ["many/sub/"])
    }

    @Test(arguments: [false, true]) func threePartMultipartWithCRC(memory: Bool) async throws {
        let f = try LocalFixture(memory: memory)
        defer { f.shutdown() }
        let c = f.client()
        let parts = [pattern(102_400, seed: 2), pattern(204_800, seed: 3)]
        _ = try await c.putObject("src", bytes: pattern(50_000, seed: 4))
        let id = try await c.initiateMultipartUpload("mp", options: WriteOptions(userMetadata: ["mode": "33188"]))
        var infos: [PartInfo] = []
        for (i, p) in parts.enumerated() {
            infos.append(try await c.uploadPart("mp", uploadId: id, partNumber: i + 1, body: UploadBody(p)))
        }
        infos.append(try await c.uploadPartCopy("mp", uploadId: id, partNumber: 3, source: "src", range: ByteRange(100, 1100), sourceIfMatch: nil))
        let listed = try await c.listParts("mp", uploadId: id, partNumberMarker: nil, maxParts: 1000)
        #expect(listed.parts.map(\.number) == [1, 2, 3])
        #expect(try await c.listMultipartUploads(prefix: "mp", keyMarker: nil, uploadIdMarker: nil, maxUploads: 100).uploads.map(\.uploadId) == [id])
        let done = try await c.completeMultipartUpload("mp", uploadId: id, parts: infos)
        let whole = parts[0] + parts[1] + Array(pattern(50_000, seed: 4)[100..<1100])
        #expect(done.crc64 == CRC64.checksum(whole))
        #expect(done.etag.value.hasSuffix("-3\""))
        #expect(try await c.getBytes("mp") == whole)
        // The object is kept as its parts (osslocal does not copy them at Complete): ranges
        // across their boundaries, a copy of it and a part copied from it read right, also
        // once the object itself is gone.
        for (a, b) in [(0, 10), (102_300, 102_500), (102_399, whole.count), (307_100, 307_300)] {
            #expect(try await c.getBytes("mp", range: ByteRange(UInt64(a), UInt64(b))) == Array(whole[a..<b]))
        }
        _ = try await c.copyObject(from: "mp", to: "mp-copy", directive: .copy, sourceIfMatch: nil)
        let pc = try await c.initiateMultipartUpload("pc", options: WriteOptions())
        let pcPart = try await c.uploadPartCopy("pc", uploadId: pc, partNumber: 1, source: "mp",
                                                range: ByteRange(100_000, 307_000), sourceIfMatch: nil)
        _ = try await c.completeMultipartUpload("pc", uploadId: pc, parts: [pcPart])
        let info = try await c.headObject("mp")
        #expect(info.type == .multipart && info.userMetadata == ["mode": "33188"])
        #expect(await serviceCode { try await c.abortMultipartUpload("mp", uploadId: id) } == "NoSuchUpload")
        try await c.deleteObject("mp")
        #expect(try await c.getBytes("mp-copy") == whole)
        #expect(try await c.getBytes("pc") == Array(whole[100_000..<307_000]))

        let small = try await c.initiateMultipartUpload("small", options: WriteOptions())
        let s1 = try await c.uploadPart("small", uploadId: small, partNumber: 1, body: UploadBody([1]))
        let s2 = try await c.uploadPart("small", uploadId: small, partNumber: 2, body: UploadBody([2]))
        #expect(await serviceCode { _ = try await c.completeMultipartUpload("small", uploadId: small, parts: [s1, s2]) } == "EntityTooSmall")
        #expect(await serviceCode { _ = try await c.completeMultipartUpload("small", uploadId: small, parts: [s2, s1]) } == "InvalidPartOrder")
        try await c.abortMultipartUpload("small", uploadId: small)
    }

    @Test func appendAndItsConflicts() async throws {
        let f = try LocalFixture()
        defer { f.shutdown() }
        let c = f.client()
        let a = try await c.appendObject("log", position: 0, body: UploadBody(Array("one\n".utf8)), options: WriteOptions(), previousCRC: nil)
        let b = try await c.appendObject("log", position: a.nextPosition, body: UploadBody(Array("two\n".utf8)),
                                         options: WriteOptions(), previousCRC: a.crc64)
        #expect(b.nextPosition == 8)
        #expect(try await c.getBytes("log") == Array("one\ntwo\n".utf8))
        #expect(try await c.headObject("log").nextAppendPosition == 8)
        #expect(await serviceCode { _ = try await c.appendObject("log", position: 3, body: UploadBody([1]), options: WriteOptions(), previousCRC: nil) }
                == "PositionNotEqualToLength")
        _ = try await c.putObject("plain", bytes: [1])
        #expect(await serviceCode { _ = try await c.appendObject("plain", position: 1, body: UploadBody([1]), options: WriteOptions(), previousCRC: nil) }
                == "ObjectNotAppendable")
    }

    @Test func wrongSecretIsRefusedWithSignatureDoesNotMatch() async throws {
        let f = try LocalFixture(memory: true)
        defer { f.shutdown() }
        let endpoint = try OSSEndpoint(parsing: f.server.address)
        let bad = OSSClient(config: OSSClientConfig(endpoint: endpoint, bucket: "bkt", region: "cn-hangzhou"),
                            transport: f.transport,
                            credentials: StaticCredentialsProvider(Credentials(accessKeyId: LocalFixture.accessKeyId, accessKeySecret: "wrong")))
        #expect(await serviceCode { _ = try await bad.headObject("x") } == "SignatureDoesNotMatch")
        #expect(await serviceCode { _ = try await bad.listObjects(ListRequest()) } == "SignatureDoesNotMatch")
        let otherBucket = OSSClient(config: OSSClientConfig(endpoint: endpoint, bucket: "nope", region: "cn-hangzhou"),
                                    transport: f.transport,
                                    credentials: StaticCredentialsProvider(Credentials(accessKeyId: LocalFixture.accessKeyId,
                                                                                       accessKeySecret: LocalFixture.secret)))
        #expect(await serviceCode { _ = try await otherBucket.listObjects(ListRequest()) } == "NoSuchBucket")
    }
}
