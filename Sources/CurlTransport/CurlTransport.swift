// CurlTransport: HTTPTransport over libcurl's multi interface. One I/O thread
// drives every transfer of the process (curl_multi_poll + curl_multi_perform);
// callers submit a request and suspend until it completes. The multi handle
// keeps the connection cache, so keep-alive connections are reused across
// requests and across callers. `start` is the same without a Task: its completion
// runs on the I/O thread. No curl type leaves this module.
import CCurl
import Foundation
import Logging
import ObjectStore
import HTTPSeam
import Synchronization

public struct CurlTransportOptions: Sendable {
    /// Give up connecting after this long. OSS answers within milliseconds when reachable;
    /// 5 s covers a cold DNS lookup and a lossy link, and lets a mount against a dead
    /// endpoint fail within seconds.
    public var connectTimeout: Duration = .seconds(5)
    /// Abort a transfer that moves less than 1 byte/s for this long (a stalled server).
    public var lowSpeedTime: Duration = .seconds(30)
    /// PEM bundle of trusted CAs; nil uses the system's.
    public var caBundle: String?
    /// Skip TLS verification. Logged once as a warning.
    public var insecure = false
    /// How many idle connections the cache keeps: enough for prefetch and upload
    /// concurrency together, so parallel ranged GETs do not reconnect.
    public var maxCachedConnections = 256
    public init() {}
}

public final class CurlTransport: HTTPTransport {
    let loop: CurlLoop

    public init(options: CurlTransportOptions = CurlTransportOptions(),
                logger: Logger = Logger(label: "ossmount.curl")) {
        loop = CurlLoop(options: options, logger: logger)
    }

    public func execute(_ request: HTTPRequest, sink: HTTPResponseSink) async throws -> HTTPResponseHead {
        let transfer = Transfer(request: request, sink: sink)
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<HTTPResponseHead, Error>) in
                transfer.continuation = c
                loop.submit(transfer)
            }
        } onCancel: {
            loop.cancel(transfer)
        }
    }

    public func start(_ request: HTTPRequest, sink: HTTPResponseSink,
                      completion: @escaping @Sendable (Result<HTTPResponseHead, any Error>) -> Void) -> (@Sendable () -> Void)?
    {
        let transfer = Transfer(request: request, sink: sink)
        transfer.completion = completion
        loop.submit(transfer)
        return { [loop] in loop.cancel(transfer) }
    }

    /// Connections opened so far (for tests and metrics: reuse keeps this low).
    public var connectionsOpened: Int { loop.connectionsOpened.load(ordering: .relaxed) }

    /// Stops the I/O thread after the transfers in flight are failed.
    public func shutdown() { loop.stop() }

    deinit { loop.stop() }
}
