// startGetObject: one try of a GET without a Task. It must send what getObject
// sends (same signature), fill the caller's buffer, check a whole body's CRC-64,
// never retry (the caller goes on with getObject), and start nothing when it
// would have to wait for credentials.
import ObjectStore
import OSSCrypto
import Synchronization
import Testing
@testable import OSSClient

/// A source whose credentials only come by awaiting (a refresh in progress).
struct AwaitedCredentials: CredentialsProvider {
    var sourceDescription: String { "awaited" }
    func credentials() async throws -> Credentials? { TestClient.credentials }
}

@Suite struct StartedGetTests {
    func started(_ client: OSSClient, into buffer: UnsafeMutableRawBufferPointer, range: ByteRange? = nil) async
        -> Result<GetResult, ObjectStoreError>?
    {
        await withCheckedContinuation { (c: CheckedContinuation<Result<GetResult, ObjectStoreError>?, Never>) in
            let cancel = client.startGetObject("dir/k", range: range, ifMatch: ETag("\"E\""),
                                               into: MutableBytes(buffer)) { c.resume(returning: $0) }
            if cancel == nil { c.resume(returning: nil) }
        }
    }

    @Test func signedAsGetObjectIntoTheBuffer() async throws {
        let body = Array("0123456789".utf8)
        let transport = ScriptedTransport { _, _ in
            .response(status: 200, headers: [("ETag", "\"E\""), ("x-oss-hash-crc64ecma", String(CRC64.checksum(body)))],
                      body: body)
        }
        let client = TestClient.make(transport)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: body.count, alignment: 16)
        defer { buffer.deallocate() }
        let result = try #require(await started(client, into: buffer))
        #expect(try result.get().bytesRead == body.count)
        #expect(Array(buffer) == body)
        _ = try await client.getObject("dir/k", range: nil, ifMatch: ETag("\"E\""), into: .collect(limit: 100))
        let sent = transport.requests
        #expect(sent.count == 2)
        #expect(sent[0].url == sent[1].url)
        #expect(sent[0].headers == sent[1].headers)  // same clock, same signature
    }

    @Test func aBadChecksumFailsWithoutARetry() async throws {
        let transport = ScriptedTransport { _, _ in .ok([("ETag", "\"E\""), ("x-oss-hash-crc64ecma", "1")], body: "abc") }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 3, alignment: 16)
        defer { buffer.deallocate() }
        let result = try #require(await started(TestClient.make(transport), into: buffer))
        #expect(throws: ObjectStoreError.checksumMismatch(key: "dir/k", expected: 1,
                                                          actual: CRC64.checksum(Array("abc".utf8)))) { try result.get() }
        #expect(transport.requests.count == 1)
    }

    @Test func aServiceErrorIsReturnedAsIs() async throws {
        let transport = ScriptedTransport { _, _ in .error(412, code: "PreconditionFailed") }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 8, alignment: 16)
        defer { buffer.deallocate() }
        let result = try #require(await started(TestClient.make(transport), into: buffer, range: ByteRange(0, 8)))
        #expect(throws: ObjectStoreError.self) { try result.get() }
        if case .failure(let e) = result { #expect(e.kind == .preconditionFailed) }
        #expect(transport.requests.first?.headers["Range"] == "bytes=0-7")
    }

    @Test func nothingStartsWithoutCredentialsAtHand() async {
        let transport = ScriptedTransport { _, _ in .ok(body: "abc") }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 3, alignment: 16)
        defer { buffer.deallocate() }
        #expect(await started(TestClient.make(transport, provider: AwaitedCredentials()), into: buffer) == nil)
        #expect(transport.requests.isEmpty)
    }
}
