// Each credential source, the chain's order and its failure message, refresh of
// expiring credentials (background refresh never blocks a holder of valid ones),
// the passwd permission check, and the ECS metadata-service flow against a real
// HTTP fixture.
import CurlTransport
import Foundation
import HTTPFixture
import Logging
import ObjectStore
import Synchronization
import Testing
@testable import OSSClient

/// A scratch directory removed at the end of the test.
struct TempDir: ~Copyable {
    let path: String
    init() {
        path = NSTemporaryDirectory() + "ossmount-test-" + UUID().uuidString
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    func write(_ name: String, _ text: String, mode: Int = 0o600) -> String {
        let p = path + "/" + name
        _ = FileManager.default.createFile(atPath: p, contents: Data(text.utf8))
        chmod(p, mode_t(mode))
        return p
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
}

func isoTime(_ t: Double) -> String { HTTPDate.iso8601(Int64(t)).replacingOccurrences(of: ".000Z", with: "Z") }

final class CountingProvider: CredentialsProvider {
    let calls = Atomic<Int>(0)
    let make: @Sendable (Int) async throws -> Credentials?
    init(_ make: @escaping @Sendable (Int) async throws -> Credentials?) { self.make = make }
    var sourceDescription: String { "counting" }
    func credentials() async throws -> Credentials? {
        try await make(calls.wrappingAdd(1, ordering: .relaxed).oldValue)
    }
}

@Suite struct CredentialsTests {
    @Test func environmentSource() async throws {
        let env = EnvironmentCredentialsProvider(environment: [
            "OSS_ACCESS_KEY_ID": "id", "OSS_ACCESS_KEY_SECRET": "sk", "OSS_SESSION_TOKEN": "tok",
        ])
        let c = try await env.credentials()
        #expect(c?.accessKeyId == "id")
        #expect(c?.accessKeySecret.reveal() == "sk")
        #expect(c?.securityToken?.reveal() == "tok")
        #expect(try await EnvironmentCredentialsProvider(environment: [:]).credentials() == nil)
        await #expect(throws: ObjectStoreError.self) {
            _ = try await EnvironmentCredentialsProvider(environment: ["OSS_ACCESS_KEY_ID": "only"]).credentials()
        }
        // The Alibaba Cloud SDKs' names, when the OSS_* pair is absent.
        let sdk = try await EnvironmentCredentialsProvider(environment: [
            "ALIBABA_CLOUD_ACCESS_KEY_ID": "aid", "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "ask", "ALIBABA_CLOUD_SECURITY_TOKEN": "at",
        ]).credentials()
        #expect(sdk?.accessKeyId == "aid" && sdk?.accessKeySecret.reveal() == "ask" && sdk?.securityToken?.reveal() == "at")
        let both = try await EnvironmentCredentialsProvider(environment: [
            "OSS_ACCESS_KEY_ID": "id", "OSS_ACCESS_KEY_SECRET": "sk", "ALIBABA_CLOUD_ACCESS_KEY_ID": "aid",
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "ask",
        ]).credentials()
        #expect(both?.accessKeyId == "id" && both?.securityToken == nil)
        await #expect(throws: ObjectStoreError.self) {
            _ = try await EnvironmentCredentialsProvider(environment: ["ALIBABA_CLOUD_ACCESS_KEY_SECRET": "x"]).credentials()
        }
    }

    @Test func jsonCredentialsFile() async throws {
        let dir = TempDir()
        let path = dir.write("credentials", """
            {"AccessKeyId": "STS.id", "AccessKeySecret": "sk", "SecurityToken": "tok", "Expiration": "2024-01-02T04:04:05Z"}
            """)
        let c = try await CredentialsFileProvider(path: path, required: true).credentials()
        #expect(c == Credentials(accessKeyId: "STS.id", accessKeySecret: "sk", securityToken: "tok",
                                 expiration: 1_704_164_645 + 3600))
        #expect(try await CredentialsFileProvider(path: dir.path + "/missing", required: false).credentials() == nil)
        await #expect(throws: ObjectStoreError.self) {
            _ = try await CredentialsFileProvider(path: dir.path + "/missing", required: true).credentials()
        }
        let bad = dir.write("bad", "{\"AccessKeyId\": \"x\"}")
        await #expect(throws: ObjectStoreError.self) { _ = try await CredentialsFileProvider(path: bad, required: true).credentials() }
    }

    @Test func passwdFileLinesAndPermissions() async throws {
        let dir = TempDir()
        let path = dir.write("passwd", "# comment\nother:AK2:SK2\nAK0:SK0\nbkt:AK1:SK1\n")
        let c = try await PasswdFileProvider(path: path, bucket: "bkt", required: true).credentials()
        #expect(c?.accessKeyId == "AK1" && c?.accessKeySecret.reveal() == "SK1")
        let generic = try await PasswdFileProvider(path: path, bucket: "nope", required: true).credentials()
        #expect(generic?.accessKeyId == "AK0")

        let open = dir.write("open", "AK:SK\n", mode: 0o644)
        do {
            _ = try await PasswdFileProvider(path: open, bucket: "bkt", required: true).credentials()
            Issue.record("a world-readable passwd file must be refused")
        } catch {
            #expect("\(error)".contains("chmod 600 \(open)"))
            #expect("\(error)".contains("644"))
        }
        // Readable by its group only (640, as ossfs's docs suggest): accepted.
        let group = dir.write("group", "AKG:SKG\n", mode: 0o640)
        #expect(try await PasswdFileProvider(path: group, bucket: "bkt", required: true).credentials()?.accessKeyId == "AKG")
    }

    @Test func credentialProcess() async throws {
        let dir = TempDir()
        let script = dir.write("cred.sh", "#!/bin/sh\necho '{\"AccessKeyId\":\"P\",\"AccessKeySecret\":\"S\"}'\n", mode: 0o700)
        let c = try await ProcessCredentialsProvider(command: script).credentials()
        #expect(c?.accessKeyId == "P")
        await #expect(throws: ObjectStoreError.self) { _ = try await ProcessCredentialsProvider(command: "relative/cmd").credentials() }
        let failing = dir.write("fail.sh", "#!/bin/sh\nexit 3\n", mode: 0o700)
        await #expect { _ = try await ProcessCredentialsProvider(command: failing).credentials() }
            throws: { "\($0)".contains("status 3") }
    }

    @Test func chainTakesTheFirstSourceWithCredentialsAndListsAllOnFailure() async throws {
        let dir = TempDir()
        let passwd = dir.write("passwd", "AKP:SKP\n")
        let envEmpty = EnvironmentCredentialsProvider(environment: [:])
        let envSet = EnvironmentCredentialsProvider(environment: ["OSS_ACCESS_KEY_ID": "AKE", "OSS_ACCESS_KEY_SECRET": "SKE"])
        let file = PasswdFileProvider(path: passwd, bucket: "b", required: false)
        let explicit = StaticCredentialsProvider(Credentials(accessKeyId: "AKO", accessKeySecret: "SKO"))

        #expect(try await CredentialsChain([explicit, envSet, file]).credentials()?.accessKeyId == "AKO")
        #expect(try await CredentialsChain([envSet, file]).credentials()?.accessKeyId == "AKE")
        #expect(try await CredentialsChain([envEmpty, file]).credentials()?.accessKeyId == "AKP")

        let missing = CredentialsChain([envEmpty, CredentialsFileProvider(path: dir.path + "/none", required: false),
                                        PasswdFileProvider(path: dir.write("open", "A:B\n", mode: 0o644), bucket: "b", required: false)])
        do {
            _ = try await missing.credentials()
            Issue.record("expected failure")
        } catch {
            let text = "\(error)"
            #expect(text.contains("environment (OSS_ACCESS_KEY_ID/OSS_ACCESS_KEY_SECRET or ALIBABA_CLOUD_ACCESS_KEY_ID/ALIBABA_CLOUD_ACCESS_KEY_SECRET): not set"))
            #expect(text.contains("credentials file \(dir.path)/none: not set"))
            #expect(text.contains("chmod 600"))
        }
    }

    @Test func expiringCredentialsAreReReadBeforeTheyExpire() async throws {
        let clock = ManualClock(now: 1000)
        let dir = TempDir()
        let path = dir.path + "/credentials"
        func write(_ id: String, expires: Double) {
            _ = dir.write("credentials", "{\"AccessKeyId\":\"\(id)\",\"AccessKeySecret\":\"s\",\"SecurityToken\":\"t\",\"Expiration\":\"\(isoTime(expires))\"}")
        }
        write("first", expires: 1000 + 3600)
        let cache = CachingCredentialsProvider(CredentialsFileProvider(path: path, required: true),
                                               clock: clock.clientClock, refreshMargin: 300)
        #expect(try await cache.credentials()?.accessKeyId == "first")
        clock.advance(3400)  // 200 s before expiry, file unchanged: still valid, a background refresh starts
        #expect(try await cache.credentials()?.accessKeyId == "first")
        write("second", expires: 1000 + 7200)
        clock.advance(1)
        let deadline = ContinuousClock.now + .seconds(10)
        var seen = ""
        while seen != "second" && ContinuousClock.now < deadline {
            seen = try await cache.credentials()?.accessKeyId ?? ""
            if seen != "second" { try await Task.sleep(for: .milliseconds(5)) }
        }
        #expect(seen == "second")
        write("third", expires: 1000)  // the file now holds expired credentials
        clock.advance(10_000)  // past "second"'s expiry: the caller must wait for a refresh, which fails
        await #expect { _ = try await cache.credentials() } throws: { "\($0)".contains("already expired") }
    }

    @Test func aFileWithoutExpirationIsReadAgainWhenItChanges() async throws {
        let clock = ManualClock(now: 1000)
        let dir = TempDir()
        let path = dir.write("credentials", "{\"AccessKeyId\":\"old-key\",\"AccessKeySecret\":\"s1\"}")
        let cache = CachingCredentialsProvider(CredentialsFileProvider(path: path, required: true),
                                               clock: clock.clientClock)
        #expect(try await cache.credentials()?.accessKeyId == "old-key")
        // Rotated as PAI and Kubernetes secrets do: a new file renamed over the old one.
        let next = dir.write("credentials.new", "{\"AccessKeyId\":\"new-key\",\"AccessKeySecret\":\"s2\"}")
        #expect(rename(next, path) == 0)
        #expect(try await cache.credentials()?.accessKeyId == "old-key")  // looked at no more than once a second
        clock.advance(1.5)
        #expect(try await cache.credentials()?.accessKeyId == "new-key")
        #expect(try await cache.credentials()?.accessKeySecret.reveal() == "s2")
        // A passwd file too.
        let passwd = dir.write("passwd", "ak1:sk1\n")
        let p = CachingCredentialsProvider(PasswdFileProvider(path: passwd, bucket: "b", required: true), clock: clock.clientClock)
        #expect(try await p.credentials()?.accessKeyId == "ak1")
        _ = dir.write("passwd", "ak2:sk2-longer\n")
        clock.advance(1.5)
        #expect(try await p.credentials()?.accessKeyId == "ak2")
    }

    @Test func invalidateMakesTheNextCallReadTheSourceAgain() async throws {
        let source = CountingProvider { n in Credentials(accessKeyId: "v\(n)", accessKeySecret: "s") }
        let chain = CredentialsChain([CachingCredentialsProvider(source)])
        #expect(try await chain.credentials()?.accessKeyId == "v0")
        #expect(try await chain.credentials()?.accessKeyId == "v0")
        chain.invalidate()
        #expect(try await chain.credentials()?.accessKeyId == "v1")
        #expect(source.calls.load(ordering: .relaxed) == 2)
    }

    @Test func aRefusedKeyIsReadAgainOnceAndTheRequestRetriedAtOnce() async throws {
        let source = CountingProvider { n in Credentials(accessKeyId: "key\(n)", accessKeySecret: "s") }
        let endpoint = try OSSEndpoint(parsing: "http://127.0.0.1:9100")
        func client(_ transport: ScriptedTransport) -> OSSClient {
            OSSClient(config: OSSClientConfig(endpoint: endpoint, bucket: "bkt", region: "cn-hangzhou"),
                      transport: transport, credentials: CredentialsChain([CachingCredentialsProvider(source)]),
                      clock: ManualClock().clientClock, logger: Logger(label: "test"))
        }
        // The old key is refused; the re-read one works.
        let rotated = ScriptedTransport { req, _ in
            (req.headers["Authorization"] ?? "").contains("key0/") ? .error(403, code: "InvalidAccessKeyId") : .ok()
        }
        try await client(rotated).deleteObject("k")
        #expect(rotated.requests.count == 2)
        // Refused every time: one re-read, then the error (not retried like a 5xx).
        let refused = ScriptedTransport { _, _ in .error(403, code: "SignatureDoesNotMatch") }
        await #expect(throws: ObjectStoreError.self) { try await client(refused).deleteObject("k") }
        #expect(refused.requests.count == 2)
        // A permission error is not a key problem: no re-read.
        let denied = ScriptedTransport { _, _ in .error(403, code: "AccessDenied") }
        await #expect(throws: ObjectStoreError.self) { try await client(denied).deleteObject("k") }
        #expect(denied.requests.count == 1)
    }

    @Test func rrsaExchangesTheTokenFileWithSTS() async throws {
        let dir = TempDir()
        let tokenFile = dir.write("token", "eyJ.first.token\n")
        let server = try HTTPFixture { req in
            let form = String(decoding: req.body, as: UTF8.self)
            guard req.method == "POST", req.uri.hasPrefix("/?Action=AssumeRoleWithOIDC&Format=JSON&Version=2015-04-01"),
                form.contains("RoleArn=acs%3Aram%3A%3A1%3Arole%2Fr"), form.contains("OIDCProviderArn=acs%3Aram%3A%3A1%3Aoidc-provider%2Fp")
            else { return .text("{\"Code\":\"MissingParameter\"}", status: 400) }
            guard form.contains("OIDCToken=eyJ.second.token") else {
                return .text("{\"Code\":\"AuthenticationFail.OIDCToken.Invalid\"}", status: 400)
            }
            return .text("{\"Credentials\":{\"AccessKeyId\":\"STS.K\",\"AccessKeySecret\":\"S\",\"SecurityToken\":\"T\",\"Expiration\":\"2030-01-01T00:00:00Z\"}}")
        }
        defer { server.shutdown() }
        let transport = CurlTransport()
        defer { transport.shutdown() }
        let env = ["ALIBABA_CLOUD_ROLE_ARN": "acs:ram::1:role/r", "ALIBABA_CLOUD_OIDC_PROVIDER_ARN": "acs:ram::1:oidc-provider/p",
                   "ALIBABA_CLOUD_OIDC_TOKEN_FILE": tokenFile, "ALIBABA_CLOUD_STS_ENDPOINT": server.baseURL]
        let provider = try #require(OIDCRoleCredentialsProvider.fromEnvironment(env, transport: transport))
        #expect(OIDCRoleCredentialsProvider.fromEnvironment(["ALIBABA_CLOUD_ROLE_ARN": "x"], transport: transport) == nil)
        await #expect { _ = try await provider.credentials() } throws: {
            "\($0)".contains("AuthenticationFail.OIDCToken.Invalid") && !"\($0)".contains("eyJ")
        }
        _ = dir.write("token", "eyJ.second.token")  // Kubernetes rotated it: the next exchange reads it
        let c = try await provider.credentials()
        #expect(c?.accessKeyId == "STS.K" && c?.securityToken?.reveal() == "T" && c?.expiration != nil)
    }

    @Test func credentialsAreAtHandOnlyWhileNoRefreshIsDue() async throws {
        let clock = ManualClock(now: 0)
        let source = CountingProvider { n in Credentials(accessKeyId: "v\(n)", accessKeySecret: "s", expiration: 1000) }
        let cache = CachingCredentialsProvider(source, clock: clock.clientClock, refreshMargin: 300)
        let chain = CredentialsChain([cache])
        #expect(chain.credentialsNow() == nil)  // nothing read yet: a request must await the source
        #expect(try await chain.credentials()?.accessKeyId == "v0")
        #expect(chain.credentialsNow()?.accessKeyId == "v0")
        clock.advance(800)  // inside the refresh margin: await, which starts the refresh
        #expect(chain.credentialsNow() == nil)
        #expect(source.calls.load(ordering: .relaxed) == 1)  // asking now never reads the source
        cache.invalidate()
        #expect(cache.credentialsNow() == nil)
        #expect(StaticCredentialsProvider(TestClient.credentials).credentialsNow() == TestClient.credentials)
        let env = EnvironmentCredentialsProvider(environment: ["OSS_ACCESS_KEY_ID": "id", "OSS_ACCESS_KEY_SECRET": "sk"])
        #expect(env.credentialsNow()?.accessKeyId == "id")
        #expect(EnvironmentCredentialsProvider(environment: ["OSS_ACCESS_KEY_ID": "id"]).credentialsNow() == nil)
    }

    @Test func refreshDoesNotBlockHoldersOfValidCredentials() async throws {
        let clock = ManualClock(now: 0)
        let release = Mutex(false)
        let slow = CountingProvider { n in
            if n > 0 {
                // A refresh that hangs until released; the test must not wait for it.
                while !release.withLock({ $0 }) { try await Task.sleep(for: .milliseconds(5)) }
            }
            return Credentials(accessKeyId: "v\(n)", accessKeySecret: "s", expiration: 1000)
        }
        let cache = CachingCredentialsProvider(slow, clock: clock.clientClock, refreshMargin: 300)
        #expect(try await cache.credentials()?.accessKeyId == "v0")
        clock.advance(800)  // inside the refresh margin
        for _ in 0..<5 { #expect(try await cache.credentials()?.accessKeyId == "v0") }
        // Exactly one background refresh starts (not five), and it is still hanging.
        let deadline = ContinuousClock.now + .seconds(10)
        while slow.calls.load(ordering: .relaxed) < 2 && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(5))
        }
        #expect(slow.calls.load(ordering: .relaxed) == 2)
        #expect(try await cache.credentials()?.accessKeyId == "v0")
        release.withLock { $0 = true }
    }

    @Test func ecsRoleWithTokenModeAndDiscovery() async throws {
        let server = try HTTPFixture { req in
            switch (req.method, req.uri) {
            case ("PUT", "/latest/api/token"):
                return req.header("X-aliyun-ecs-metadata-token-ttl-seconds") == "21600" ? .text("TOKEN") : .text("", status: 400)
            case (_, _) where req.header("X-aliyun-ecs-metadata-token") != "TOKEN":
                return .text("", status: 401)
            case ("GET", "/latest/meta-data/ram/security-credentials/"):
                return .text("my-role\n")
            case ("GET", "/latest/meta-data/ram/security-credentials/my-role"):
                return .text("{\"Code\":\"Success\",\"AccessKeyId\":\"STS.X\",\"AccessKeySecret\":\"S\",\"SecurityToken\":\"T\",\"Expiration\":\"2030-01-01T00:00:00Z\"}")
            default:
                return .text("", status: 404)
            }
        }
        defer { server.shutdown() }
        let transport = CurlTransport()
        defer { transport.shutdown() }
        let c = try await ECSRoleCredentialsProvider(roleName: nil, baseURL: server.baseURL, transport: transport).credentials()
        #expect(c?.accessKeyId == "STS.X")
        #expect(c?.securityToken?.reveal() == "T")
        #expect(c?.expiration == Double(HTTPDate.parseISO8601("2030-01-01T00:00:00Z")!.seconds))
        #expect(server.requests.map(\.uri) == ["/latest/api/token", "/latest/meta-data/ram/security-credentials/",
                                               "/latest/meta-data/ram/security-credentials/my-role"])
    }

    @Test func ecsRoleFallsBackToPlainGets() async throws {
        let server = try HTTPFixture { req in
            switch (req.method, req.uri) {
            case ("PUT", _): return .text("", status: 404)  // no token mode on this service
            case ("GET", "/latest/meta-data/ram/security-credentials/named"):
                return .text("{\"AccessKeyId\":\"A\",\"AccessKeySecret\":\"S\",\"SecurityToken\":\"T\",\"Expiration\":\"2030-01-01T00:00:00Z\"}")
            default: return .text("", status: 404)
            }
        }
        defer { server.shutdown() }
        let transport = CurlTransport()
        defer { transport.shutdown() }
        let c = try await ECSRoleCredentialsProvider(roleName: "named", baseURL: server.baseURL, transport: transport).credentials()
        #expect(c?.accessKeyId == "A")
        #expect(server.requests.last?.header("X-aliyun-ecs-metadata-token") == nil)
    }
}
