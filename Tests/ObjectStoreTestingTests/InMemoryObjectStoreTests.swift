// The in-memory store must behave like OSS where the VFS can tell the
// difference; these tests pin the contract the VFS tests rely on.
import ObjectStore
import OSSCrypto
import Testing
@testable import ObjectStoreTesting

private func code(_ body: () async throws -> Void) async -> String? {
    do {
        try await body()
        return nil
    } catch {
        return (error as? ObjectStoreError)?.code
    }
}

@Suite struct InMemoryObjectStoreTests {
    @Test func etagsChangeOnOverwriteAndConditionalReadsNotice() async throws {
        let store = InMemoryObjectStore()
        let a = try await store.putObject("k", bytes: Array("one".utf8))
        let b = try await store.putObject("k", bytes: Array("two".utf8))
        #expect(a.etag != b.etag)
        #expect(b.crc64 == CRC64.checksum(Array("two".utf8)))
        #expect(await code { _ = try await store.getBytes("k", ifMatch: a.etag) } == "PreconditionFailed")
        #expect(try await store.getBytes("k", ifMatch: b.etag) == Array("two".utf8))
        #expect(await code { _ = try await store.putObject("k", bytes: [], options: WriteOptions(forbidOverwrite: true)) }
                == "FileAlreadyExists")
        #expect(await code { _ = try await store.headObject("missing") } == "NoSuchKey")
    }

    @Test func rangesFollowStandardBehaviour() async throws {
        let store = InMemoryObjectStore()
        _ = try await store.putObject("k", bytes: Array(0..<100))
        #expect(try await store.getBytes("k", range: ByteRange(90, 200)) == Array(90..<100))
        #expect(await code { _ = try await store.getBytes("k", range: ByteRange(100, 101)) } == "InvalidRange")
    }

    @Test func appendPositions() async throws {
        let store = InMemoryObjectStore()
        let r1 = try await store.appendObject("log", position: 0, body: UploadBody(Array("ab".utf8)), options: WriteOptions(), previousCRC: nil)
        let r2 = try await store.appendObject("log", position: 2, body: UploadBody(Array("cd".utf8)), options: WriteOptions(), previousCRC: r1.crc64)
        #expect(r2.nextPosition == 4)
        #expect(r2.crc64 == CRC64.checksum(Array("abcd".utf8)))
        #expect(await code { _ = try await store.appendObject("log", position: 1, body: UploadBody([1]), options: WriteOptions(), previousCRC: nil) }
                == "PositionNotEqualToLength")
        _ = try await store.putObject("plain", bytes: [1])
        #expect(await code { _ = try await store.appendObject("plain", position: 1, body: UploadBody([1]), options: WriteOptions(), previousCRC: nil) }
                == "ObjectNotAppendable")
        let info = try await store.headObject("log")
        #expect(info.type == .appendable && info.nextAppendPosition == 4)
    }

    @Test func listingWithDelimiterAndPaging() async throws {
        let store = InMemoryObjectStore()
        for k in ["a/1", "a/2", "a/sub/x", "a/sub/y", "a/t/z", "b", "a/3"] { _ = try await store.putObject(k, bytes: []) }
        var seen: [String] = []
        var token: String?
        repeat {
            let page = try await store.listObjects(ListRequest(prefix: "a/", delimiter: "/", maxKeys: 2, continuationToken: token))
            seen += page.objects.map(\.key) + page.commonPrefixes
            token = page.nextContinuationToken
            #expect(page.isTruncated == (token != nil))
        } while token != nil
        #expect(seen.sorted() == ["a/1", "a/2", "a/3", "a/sub/", "a/t/"])
        let flat = try await store.listObjects(ListRequest(prefix: "", delimiter: nil, maxKeys: 1000, startAfter: "a/3"))
        #expect(flat.objects.map(\.key) == ["a/sub/x", "a/sub/y", "a/t/z", "b"])
    }

    @Test func multipartRules() async throws {
        let store = InMemoryObjectStore()
        let big = [UInt8](repeating: 7, count: InMemoryObjectStore.minimumPartSize)
        let id = try await store.initiateMultipartUpload("m", options: WriteOptions())
        let p1 = try await store.uploadPart("m", uploadId: id, partNumber: 1, body: UploadBody(big))
        let p2 = try await store.uploadPart("m", uploadId: id, partNumber: 2, body: UploadBody([1, 2, 3]))
        #expect(await code { _ = try await store.completeMultipartUpload("m", uploadId: id, parts: [p2, p1]) } == "InvalidPartOrder")
        var wrong = p2
        wrong.etag = ETag("\"X\"")
        #expect(await code { _ = try await store.completeMultipartUpload("m", uploadId: id, parts: [p1, wrong]) } == "InvalidPart")
        let small = try await store.uploadPart("m", uploadId: id, partNumber: 1, body: UploadBody([9]))
        #expect(await code { _ = try await store.completeMultipartUpload("m", uploadId: id, parts: [small, p2]) } == "EntityTooSmall")
        let p1again = try await store.uploadPart("m", uploadId: id, partNumber: 1, body: UploadBody(big))
        let done = try await store.completeMultipartUpload("m", uploadId: id, parts: [p1again, p2])
        #expect(done.etag.value.hasSuffix("-2\""))
        #expect(try await store.getBytes("m") == big + [1, 2, 3])
        #expect(try await store.headObject("m").type == .multipart)
        #expect(await code { try await store.abortMultipartUpload("m", uploadId: id) } == "NoSuchUpload")
        #expect(store.pendingUploadCount == 0)
    }

    @Test func copyAndSymlinks() async throws {
        let store = InMemoryObjectStore()
        let src = try await store.putObject("src", bytes: Array("data".utf8), options: WriteOptions(userMetadata: ["mode": "420"]))
        _ = try await store.copyObject(from: "src", to: "dst", directive: .copy, sourceIfMatch: src.etag)
        #expect(try await store.headObject("dst").userMetadata == ["mode": "420"])
        _ = try await store.copyObject(from: "src", to: "src", directive: .replace(WriteOptions(userMetadata: ["mode": "493"])), sourceIfMatch: nil)
        let after = try await store.headObject("src")
        #expect(after.userMetadata == ["mode": "493"] && after.etag != src.etag)
        _ = try await store.putSymlink("link", target: "src", options: WriteOptions())
        #expect(try await store.getSymlink("link").target == "src")
        #expect(try await store.getBytes("link") == Array("data".utf8))
        #expect(try await store.headObject("link").type == .symlink)
        #expect(await code { _ = try await store.getSymlink("src") } == "NotSymlink")
    }

    @Test func faultInjectionIsSeededAndCanLoseAnswers() async throws {
        func run(seed: UInt64) async -> [Bool] {
            let client = FaultInjectingClient(InMemoryObjectStore(), seed: seed,
                                              rules: [FaultRule([.put], error: .transport(TransportFailure(.reset, "x")), probability: 0.3)])
            var outcomes: [Bool] = []
            for i in 0..<50 { outcomes.append((try? await client.putObject("k\(i)", bytes: [1])) != nil) }
            return outcomes
        }
        let a = await run(seed: 42), b = await run(seed: 42)
        #expect(a == b)
        #expect(a.contains(false) && a.contains(true))

        let store = InMemoryObjectStore()
        let client = FaultInjectingClient(store, seed: 1)
        client.failNext(.put, with: .transport(TransportFailure(.reset, "lost")), afterCall: true)
        await #expect(throws: ObjectStoreError.transport(TransportFailure(.reset, "lost"))) {
            _ = try await client.putObject("k", bytes: [1])
        }
        #expect(store.contents(of: "k") == [1])  // the write happened although the caller saw an error
        #expect(client.faultsInjected == 1)
    }
}
