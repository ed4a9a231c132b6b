// A known secret and security token must never appear in anything we format:
// request descriptions, errors, log lines (at trace level), credential values,
// presigned URLs as logged.
import HTTPSeam
import Logging
import ObjectStore
import Testing
@testable import OSSClient

@Suite struct SecretRedactionTests {
    let secret = TestClient.credentials.accessKeySecret.reveal()
    let token = TestClient.credentials.securityToken!.reveal()

    func assertClean(_ text: String, _ what: String) {
        #expect(!text.contains(secret), "secret leaked in \(what)")
        #expect(!text.contains(token), "token leaked in \(what)")
    }

    @Test(arguments: [SignatureVersion.v1, .v4])
    func nothingFormattedCarriesTheSecretOrToken(version: SignatureVersion) async throws {
        let logs = LogCapture()
        let transport = ScriptedTransport { r, i in
            switch i {
            case 0: .failure(.reset)  // logged retry
            case 1: .ok([("ETag", "\"E\"")], body: "abc")
            default: .error(403, code: "SignatureDoesNotMatch", message: "mismatch")
            }
        }
        let client = TestClient.make(transport, region: version == .v4 ? "cn-hangzhou" : nil, logger: logs.logger)
        _ = try await client.getBytes("k")
        var errors: [String] = []
        do { _ = try await client.headObject("k", ifMatch: nil) } catch { errors.append("\(error)"); errors.append(String(reflecting: error)) }
        let url = try await client.presignedURL(key: "k", expiresIn: 60)

        // The raw request does carry the token (it must, to be signed); its description must not.
        #expect(transport.requests[0].headers.contains { $0.value.contains(token) })
        for r in transport.requests { assertClean(r.description, "request description") }
        for e in errors { assertClean(e, "error") }
        #expect(!logs.all.isEmpty)
        for line in logs.all { assertClean(line, "log line") }
        assertClean(Redaction.url(url), "logged presigned URL")
        #expect(url.contains(token))  // the URL itself needs it
    }

    @Test func credentialValuesNeverPrint() {
        let c = TestClient.credentials
        var dumped = ""
        dump(c, to: &dumped)
        for text in [c.description, "\(c)", String(reflecting: c), dumped, "\(c.accessKeySecret)",
                     String(reflecting: c.securityToken as Any), "\(Mirror(reflecting: c).children.map { "\($0)" })"] {
            assertClean(text, "credentials formatting")
        }
        #expect(c.description.contains("AKIDTEST"))
    }

    @Test func credentialErrorsDoNotEchoFileContents() async throws {
        let dir = TempDir()
        let path = dir.write("passwd", "bkt:AK:\(secret):extra\n")
        do {
            _ = try await PasswdFileProvider(path: path, bucket: "bkt", required: true).credentials()
            Issue.record("malformed line must be refused")
        } catch {
            assertClean("\(error)", "passwd error")
            #expect("\(error)".contains("line 1"))
        }
    }
}
