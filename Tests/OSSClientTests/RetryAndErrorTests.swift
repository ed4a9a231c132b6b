// What is retried and what is not, how error answers are decoded, and that a
// CRC-64 disagreement is an error, never a silent success.
import ObjectStore
import OSSCrypto
import Testing
@testable import OSSClient

private let okGet = Scripted.ok([("ETag", "\"E\"")], body: "abc")

@Suite struct RetryAndErrorTests {
    @Test(arguments: [
        Scripted.error(503, code: "ServiceUnavailable"),
        Scripted.error(500, code: "InternalError"),
        Scripted.error(429, code: "TooManyRequests"),
        Scripted.error(400, code: "UserQpsLimitExceeded"),
        Scripted.failure(.reset),
        Scripted.failure(.timeout),
        Scripted.failure(.connect),
    ])
    func transientFailuresAreRetried(first: Scripted) async throws {
        let transport = ScriptedTransport { _, i in i < 2 ? first : okGet }
        let clock = ManualClock()
        let bytes = try await TestClient.make(transport, clock: clock).getBytes("k")
        #expect(bytes == Array("abc".utf8))
        #expect(transport.requests.count == 3)
        // Full jitter with random 0.5: half of 100 ms, then half of 200 ms.
        #expect(clock.sleeps == [.milliseconds(50), .milliseconds(100)])
    }

    @Test(arguments: [
        (Scripted.error(403, code: "SignatureDoesNotMatch"), "SignatureDoesNotMatch"),
        (Scripted.error(404, code: "NoSuchKey"), "NoSuchKey"),
        (Scripted.error(403, code: "AccessDenied"), "AccessDenied"),
        (Scripted.error(409, code: "PositionNotEqualToLength"), "PositionNotEqualToLength"),
    ])
    func permanentErrorsAreNotRetried(answer: Scripted, code: String) async throws {
        let transport = ScriptedTransport { _, _ in answer }
        let clock = ManualClock()
        await #expect {
            _ = try await TestClient.make(transport, clock: clock).getBytes("k")
        } throws: { ($0 as? ObjectStoreError)?.code == code }
        // A refused key is sent once more at once, after the credentials were read again
        // (CredentialsTests); nothing is retried with back-off.
        #expect(transport.requests.count == (code == "SignatureDoesNotMatch" ? 2 : 1))
        #expect(clock.sleeps.isEmpty)
    }

    @Test func retriesStopAtMaxAttempts() async throws {
        let transport = ScriptedTransport { _, _ in .error(503, code: "ServiceUnavailable") }
        await #expect(throws: ObjectStoreError.self) {
            _ = try await TestClient.make(transport, retry: RetryPolicy(maxAttempts: 4)).headObject("k", ifMatch: nil)
        }
        #expect(transport.requests.count == 4)
    }

    @Test func retriesStopAtMaxElapsed() async throws {
        let clock = ManualClock()
        let transport = ScriptedTransport { _, _ in
            clock.advance(10)  // each try takes 10 s
            return .failure(.reset)
        }
        let policy = RetryPolicy(maxAttempts: 100, maxElapsed: .seconds(35))
        await #expect(throws: ObjectStoreError.transport(TransportFailure(.reset, "scripted"))) {
            _ = try await TestClient.make(transport, clock: clock, retry: policy).headObject("k", ifMatch: nil)
        }
        #expect(transport.requests.count == 4)  // tries start at 0, 10, 20 and 30 s; none at 40
    }

    @Test func errorDocumentIsDecoded() async throws {
        let transport = ScriptedTransport { _, _ in
            .error(403, code: "SignatureDoesNotMatch", message: "The request signature we calculated does not match")
        }
        do {
            _ = try await TestClient.make(transport).getBytes("k")
            Issue.record("expected an error")
        } catch let ObjectStoreError.service(e) {
            #expect(e == ServiceError(status: 403, code: "SignatureDoesNotMatch",
                                      message: "The request signature we calculated does not match",
                                      requestId: "RID", hostId: "h", ec: "0000-00000000"))
        }
    }

    @Test func bodilessHeadErrorsUseHeaders() async throws {
        let errXML = "<Error><Code>NoSuchBucket</Code><Message>gone</Message><RequestId>R2</RequestId></Error>"
        let cases: [(Scripted, String)] = [
            (.response(status: 404, headers: [("x-oss-ec", "0026-00000001"), ("x-oss-request-id", "R1")]), "NoSuchKey"),
            (.response(status: 404, headers: [("x-oss-ec", "0015-00000101")]), "NoSuchBucket"),
            (.response(status: 404, headers: [("x-oss-err", Base64.encode(Array(errXML.utf8)))]), "NoSuchBucket"),
            (.response(status: 412), "PreconditionFailed"),
            (.response(status: 403), "AccessDenied"),
        ]
        for (answer, code) in cases {
            let transport = ScriptedTransport { _, _ in answer }
            await #expect {
                _ = try await TestClient.make(transport).headObject("k", ifMatch: nil)
            } throws: { ($0 as? ObjectStoreError)?.code == code }
        }
    }

    @Test func crcMismatchOnFullGetIsAnError() async throws {
        let transport = ScriptedTransport { _, _ in
            .ok([("ETag", "\"E\""), ("x-oss-hash-crc64ecma", "12345")], body: "abc")
        }
        await #expect(throws: ObjectStoreError.checksumMismatch(key: "k", expected: 12345,
                                                                 actual: CRC64.checksum(Array("abc".utf8)))) {
            _ = try await TestClient.make(transport, retry: RetryPolicy(maxAttempts: 2)).getBytes("k")
        }
        #expect(transport.requests.count == 2)  // retried once, failed again
    }

    @Test func crcMismatchRecoversWhenTheRetryIsClean() async throws {
        let good = CRC64.checksum(Array("abc".utf8))
        let transport = ScriptedTransport { _, i in
            .ok([("ETag", "\"E\""), ("x-oss-hash-crc64ecma", String(i == 0 ? 1 : good))], body: "abc")
        }
        #expect(try await TestClient.make(transport).getBytes("k") == Array("abc".utf8))
    }

    @Test func crcMismatchOnPutIsAnError() async throws {
        let transport = ScriptedTransport { _, _ in .ok([("ETag", "\"E\""), ("x-oss-hash-crc64ecma", "1")]) }
        await #expect(throws: ObjectStoreError.self) {
            _ = try await TestClient.make(transport, retry: .never).putObject("k", bytes: [1, 2, 3])
        }
    }

    @Test func truncatedFullGetIsAnError() async throws {
        let transport = ScriptedTransport { _, _ in .ok([("ETag", "\"E\""), ("Content-Length", "10")], body: "abc") }
        await #expect(throws: ObjectStoreError.invalidResponse("GetObject k: 3 of 10 bytes")) {
            _ = try await TestClient.make(transport).getBytes("k")
        }
    }

    @Test func appendIsRetriedOnlyAfterCheckingThePosition() async throws {
        let body = Array("0123456789".utf8)
        let crc = CRC64.checksum(body)
        // The answer to the append is lost but the bytes landed: a HEAD shows them, no resend.
        let landed = ScriptedTransport { r, _ in
            r.method == "POST" ? .failure(.reset)
                : .ok([("ETag", "\"E\""), ("Content-Length", "10"), ("x-oss-object-type", "Appendable"),
                       ("x-oss-hash-crc64ecma", String(crc))])
        }
        let r1 = try await TestClient.make(landed).appendObject("log", position: 0, body: UploadBody(body),
                                                                options: WriteOptions(), previousCRC: nil)
        #expect(r1.nextPosition == 10)
        #expect(landed.requests.map(\.method) == ["POST", "HEAD"])

        // Nothing landed: the HEAD says 404, so the append is sent again.
        let lost = ScriptedTransport { r, i in
            switch (r.method, i) {
            case ("POST", 0): .failure(.reset)
            case ("HEAD", _): .response(status: 404, headers: [("x-oss-ec", "0026-00000001")])
            default: .ok([("ETag", "\"E\""), ("x-oss-next-append-position", "10"), ("x-oss-hash-crc64ecma", String(crc))])
            }
        }
        let r2 = try await TestClient.make(lost).appendObject("log", position: 0, body: UploadBody(body),
                                                              options: WriteOptions(), previousCRC: nil)
        #expect(r2.nextPosition == 10)
        #expect(lost.requests.map(\.method) == ["POST", "HEAD", "POST"])

        // Someone else appended meanwhile: give up with the original error.
        let moved = ScriptedTransport { r, _ in
            r.method == "POST" ? .error(503, code: "ServiceUnavailable")
                : .ok([("ETag", "\"E\""), ("Content-Length", "25"), ("x-oss-object-type", "Appendable")])
        }
        await #expect { _ = try await TestClient.make(moved).appendObject(
            "log", position: 0, body: UploadBody(body), options: WriteOptions(), previousCRC: nil)
        } throws: { ($0 as? ObjectStoreError)?.code == "ServiceUnavailable" }
        #expect(moved.requests.map(\.method) == ["POST", "HEAD"])
    }
}
