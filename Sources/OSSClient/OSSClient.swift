// OSSClient: ObjectClient over the OSS REST API. This file holds the request
// cycle shared by every operation (sign with fresh credentials, send through the
// HTTPTransport, decode errors, retry by RetryPolicy); each operation lives in
// its own `OSSClient+Operation.swift` and only says what to send and how to read
// the answer.
import HTTPSeam
import Logging
import ObjectStore
import OSSCrypto
import Synchronization

public struct OSSClientConfig: Sendable {
    public var endpoint: OSSEndpoint
    public var bucket: String
    /// Set → Signature V4 scoped to this region; nil → V1 (unless `signatureVersion` says otherwise).
    public var region: String?
    public var signatureVersion: SignatureVersion
    public var retry: RetryPolicy
    /// Check `x-oss-hash-crc64ecma` on whole-body transfers.
    public var verifyCRC: Bool
    public var userAgent: String

    public init(endpoint: OSSEndpoint, bucket: String, region: String? = nil, signatureVersion: SignatureVersion? = nil,
                retry: RetryPolicy = RetryPolicy(), verifyCRC: Bool = true, userAgent: String = "ossmount/0.1") {
        self.endpoint = endpoint
        self.bucket = bucket
        self.region = region
        self.signatureVersion = signatureVersion ?? (region == nil ? .v1 : .v4)
        self.retry = retry
        self.verifyCRC = verifyCRC
        self.userAgent = userAgent
    }
}

/// One request as an operation describes it.
struct OSSOperation: Sendable {
    var name: String
    var method: String
    /// nil: bucket-level (`/?list-type=2`).
    var key: String?
    var query: [QueryItem] = []
    var headers = HTTPHeaders()
    var body: UploadBody?
}

/// What came back from a successful request.
struct OSSResponse: Sendable {
    var status: Int
    var headers: HTTPHeaders
    var body: [UInt8]
    var bytesRead: Int
    /// CRC-64 of the body bytes received (when asked for).
    var bodyCRC: UInt64
}

public final class OSSClient: ObjectClient {
    public let config: OSSClientConfig
    let transport: HTTPTransport
    public let credentials: CredentialsProvider
    let clock: ClientClock
    let logger: Logger
    /// Requests slower than this are logged at notice level with their key and status.
    let slowRequestThreshold: Double
    let metrics: ClientMetrics
    let signingKeys = SigningKeyCache()

    public init(config: OSSClientConfig, transport: HTTPTransport, credentials: CredentialsProvider,
                clock: ClientClock = .system, logger: Logger = Logger(label: "ossmount.client"),
                slowRequestThreshold: Double = 0.1, metrics: ClientMetrics = ClientMetrics()) {
        self.config = config
        self.metrics = metrics
        self.transport = transport
        self.credentials = credentials
        self.clock = clock
        self.logger = logger
        self.slowRequestThreshold = slowRequestThreshold
    }

    /// Sends `op`, retrying by `retry` (the configured policy by default), and returns the
    /// response of the first successful try. Error statuses become ObjectStoreError.service.
    /// `validate` runs on each try's response (CRC checks), so a failed check is retried
    /// like a failed transfer.
    func perform(_ op: OSSOperation, into target: ResponseCollector.Target = .collect(limit: 16 << 20),
                 computeCRC: Bool = false, retry: RetryPolicy? = nil,
                 validate: (OSSResponse) throws(ObjectStoreError) -> Void = { _ in }) async throws(ObjectStoreError)
        -> OSSResponse
    {
        let policy = retry ?? config.retry
        let started = clock.now()
        var attempt = 0
        var reread = false
        while true {
            attempt += 1
            do {
                let response = try await attemptOnce(op, target: target, computeCRC: computeCRC)
                try validate(response)
                return response
            } catch {
                // A rotated key: read the credentials again, once, and try at once.
                if error.refusedCredentials && !reread {
                    reread = true
                    credentials.invalidate()
                    logger.notice("credentials refused; reading them again",
                                  metadata: ["op": "\(op.name)", "code": "\(error.code ?? "")",
                                             "source": "\(credentials.sourceDescription)"])
                    continue
                }
                let elapsed = clock.now() - started
                let delay = policy.delay(afterAttempt: attempt, unit: clock.random())
                guard RetryPolicy.isRetryable(error), attempt < policy.maxAttempts,
                    Duration.seconds(elapsed) + delay < policy.maxElapsed
                else { throw error }
                metrics.retried(op.name)
                logger.warning(
                    "retrying \(op.name) after \(error)",
                    metadata: ["key": "\(op.key ?? "")", "attempt": "\(attempt)", "delay": "\(delay)"])
                do { try await clock.sleep(delay) } catch { throw .transport(TransportFailure(.aborted, "cancelled")) }
            }
        }
    }

    private func attemptOnce(_ op: OSSOperation, target: ResponseCollector.Target, computeCRC: Bool)
        async throws(ObjectStoreError) -> OSSResponse
    {
        let request = try await signedRequest(op)
        let sink = ResponseCollector(target: target, computeCRC: computeCRC)
        let start = clock.now()
        let result: Result<HTTPResponseHead, any Error>
        do { result = .success(try await transport.execute(request, sink: sink)) } catch { result = .failure(error) }
        return try conclude(op, result, sink: sink, since: start).get()
    }

    /// One try's outcome as a response or the seam's error, counted in the metrics and logged.
    func conclude(_ op: OSSOperation, _ result: Result<HTTPResponseHead, any Error>, sink: ResponseCollector,
                  since start: Double) -> Result<OSSResponse, ObjectStoreError>
    {
        let seconds = clock.now() - start
        let sent = op.body?.count ?? 0
        let head: HTTPResponseHead
        switch result {
        case .failure(let error):
            metrics.answered(op.name, status: "error", seconds: seconds, sent: sent, received: sink.bytesWritten)
            return .failure(Self.transportError(error, op: op, overflow: sink.overflow))
        case .success(let h): head = h
        }
        metrics.answered(op.name, status: String(head.status), seconds: seconds, sent: sent, received: sink.bytesWritten)
        let metadata: Logger.Metadata = [
            "op": "\(op.name)", "key": "\(op.key ?? "")", "status": "\(head.status)",
            "bytes": "\(sink.bytesWritten)", "ms": "\(Int(seconds * 1000))",
            "request_id": "\(head.headers["x-oss-request-id"] ?? "-")",
        ]
        if seconds >= slowRequestThreshold {
            logger.notice("slow request", metadata: metadata)
        } else {
            logger.debug("request", metadata: metadata)
        }
        guard head.status < 300 else { return .failure(.service(ErrorDecoding.decode(head, body: sink.errorBody))) }
        return .success(OSSResponse(status: head.status, headers: head.headers, body: sink.body,
                                    bytesRead: sink.bytesWritten, bodyCRC: sink.crc.value))
    }

    /// A failed transfer as the seam's error.
    static func transportError(_ error: any Error, op: OSSOperation, overflow: Bool) -> ObjectStoreError {
        if overflow { return .invalidResponse("\(op.name) \(op.key ?? ""): body larger than the buffer") }
        if let failure = error as? TransportFailure { return .transport(failure) }
        return .transport(TransportFailure(.other, "\(error)"))
    }

    /// Builds the wire request for `op` and signs it with the current credentials.
    func signedRequest(_ op: OSSOperation) async throws(ObjectStoreError) -> HTTPRequest {
        let creds: Credentials
        do {
            guard let found = try await credentials.credentials() else {
                throw ObjectStoreError.credentials("no credentials from \(credentials.sourceDescription)")
            }
            creds = found
        } catch let e as ObjectStoreError {
            throw e
        } catch {
            throw .credentials("\(credentials.sourceDescription): \(error)")
        }
        return signed(op, with: creds)
    }

    /// The wire request for `op`, signed with `creds`.
    func signed(_ op: OSSOperation, with creds: Credentials) -> HTTPRequest {
        var signing = SigningRequest(method: op.method, bucket: config.bucket, key: op.key ?? "", query: op.query,
                                     headers: op.headers)
        signing.headers.set("User-Agent", config.userAgent)
        let time = SigningTime(unixSeconds: Int64(clock.now()))
        switch config.signatureVersion {
        case .v1: SignerV1.sign(&signing, credentials: creds, time: time)
        case .v4:
            let region = config.region ?? ""
            SignerV4.sign(&signing, credentials: creds, region: region, time: time,
                          signingKey: signingKeys.key(creds, day: time.day, region: region))
        }
        let url = config.endpoint.url(bucket: config.bucket, key: op.key ?? "", query: op.query)
        return HTTPRequest(method: op.method, url: url, headers: signing.headers, body: op.body)
    }

    /// A presigned URL for `method` on `key`, valid for `expiresIn` seconds.
    public func presignedURL(method: String = "GET", key: String, expiresIn: Int64, query: [QueryItem] = [])
        async throws -> String
    {
        guard let creds = try await credentials.credentials() else {
            throw ObjectStoreError.credentials("no credentials from \(credentials.sourceDescription)")
        }
        let request = SigningRequest(method: method, bucket: config.bucket, key: key, query: query)
        let time = SigningTime(unixSeconds: Int64(clock.now()))
        let items: [QueryItem] = switch config.signatureVersion {
        case .v1: SignerV1.presignQuery(request, credentials: creds, expires: time.unixSeconds + expiresIn).items
        case .v4:
            SignerV4.presignQuery(request, credentials: creds, region: config.region ?? "", time: time,
                                  expiresIn: expiresIn).items
        }
        return config.endpoint.url(bucket: config.bucket, key: key, query: query + items)
    }
}

/// The V4 signing key of the credentials in use, derived once per day (four HMACs)
/// instead of for every request.
final class SigningKeyCache: Sendable {
    private let cached = Mutex<(secret: Secret, day: String, region: String, key: [UInt8])?>(nil)

    func key(_ credentials: Credentials, day: String, region: String) -> [UInt8] {
        let secret = credentials.accessKeySecret
        if let c = cached.withLock({ $0 }), c.secret == secret, c.day == day, c.region == region { return c.key }
        let key = SignerV4.signingKey(secret: secret, day: day, region: region)
        cached.withLock { $0 = (secret, day, region, key) }
        return key
    }
}
