// CurlTransport against a real HTTP server on loopback: bodies both ways,
// methods, header hygiene, keep-alive reuse, and how each wire failure is
// classified (the retry policy depends on these kinds).
import Foundation
import HTTPFixture
import ObjectStore
import HTTPSeam
import Synchronization
import Testing
@testable import CurlTransport

final class CollectingSink: HTTPResponseSink {
    private let state = Mutex<(head: HTTPResponseHead?, body: [UInt8])>((nil, []))
    let refuseAfter: Int?
    init(refuseAfter: Int? = nil) { self.refuseAfter = refuseAfter }
    func receiveHead(_ head: HTTPResponseHead) { state.withLock { $0.head = head } }
    func receiveBody(_ chunk: UnsafeRawBufferPointer) -> Bool {
        state.withLock { s in
            s.body += chunk
            return refuseAfter.map { s.body.count <= $0 } ?? true
        }
    }
    var body: [UInt8] { state.withLock { $0.body } }
}

func failureKind(_ body: () async throws -> Void) async -> TransportFailure.Kind? {
    do {
        try await body()
        return nil
    } catch let f as TransportFailure {
        return f.kind
    } catch {
        return nil
    }
}

@Suite struct CurlTransportTests {
    @Test func onlyLargeReadsGetALargeReceiveBuffer() {
        final class Expecting: HTTPResponseSink, Sendable {
            let expectedBodySize: Int?
            init(_ size: Int?) { expectedBodySize = size }
            func receiveHead(_ head: HTTPResponseHead) {}
            func receiveBody(_ chunk: UnsafeRawBufferPointer) -> Bool { true }
        }
        func size(_ method: String, expected: Int? = nil) -> Int {
            CurlLoop.receiveBufferSize(HTTPRequest(method: method, url: "http://h/b/k"), sink: Expecting(expected))
        }
        let small = 64 * 1024, large = 512 * 1024
        #expect(size("GET", expected: 100 << 10) == small)
        #expect(size("GET", expected: 1 << 20) == small)
        #expect(size("GET", expected: (1 << 20) + 1) == large)
        #expect(size("GET", expected: 8 << 20) == large)
        #expect(size("GET") == small)  // a listing, or bytes collected up to a safety limit
        #expect(size("HEAD") == small)
        #expect(size("PUT", expected: 8 << 20) == small)
    }

    @Test func getAndPutBodiesRoundTrip() async throws {
        let payload = (0..<(3 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ $0 >> 11) }
        let server = try HTTPFixture { req in
            if req.method == "PUT" { return FixtureResponse(status: 200, headers: [("ETag", "\"E\"")], body: req.body) }
            return FixtureResponse(status: 200, headers: [("X-Test", "yes")], body: payload)
        }
        defer { server.shutdown() }
        let transport = CurlTransport()
        defer { transport.shutdown() }

        let sink = CollectingSink()
        let head = try await transport.execute(HTTPRequest(method: "GET", url: server.baseURL + "/obj"), sink: sink)
        #expect(head.status == 200)
        #expect(head.headers["x-test"] == "yes")
        #expect(sink.body == payload)

        let echo = CollectingSink()
        let put = HTTPRequest(method: "PUT", url: server.baseURL + "/obj", headers: HTTPHeaders([("x-oss-meta-a", "1")]),
                              body: UploadBody(payload))
        let putHead = try await transport.execute(put, sink: echo)
        #expect(putHead.headers["ETag"] == "\"E\"")
        #expect(echo.body == payload)
        let recorded = server.requests.last!
        #expect(recorded.header("Content-Length") == String(payload.count))
        #expect(recorded.header("x-oss-meta-a") == "1")
        // Headers we did not sign must not be added by curl.
        #expect(recorded.header("Content-Type") == nil)
        #expect(recorded.header("Expect") == nil)
    }

    @Test func everyMethodIsSentAsAsked() async throws {
        let server = try HTTPFixture { req in .text(req.method == "HEAD" ? "" : "m=\(req.method)") }
        defer { server.shutdown() }
        let transport = CurlTransport()
        defer { transport.shutdown() }
        for method in ["GET", "HEAD", "PUT", "POST", "DELETE"] {
            let body: UploadBody? = (method == "PUT" || method == "POST") ? UploadBody(Array("x".utf8)) : nil
            _ = try await transport.execute(HTTPRequest(method: method, url: server.baseURL + "/k", body: body),
                                            sink: CollectingSink())
        }
        #expect(server.requests.map(\.method) == ["GET", "HEAD", "PUT", "POST", "DELETE"])
        #expect(server.requests[3].body == Array("x".utf8))
    }

    @Test func connectionsAreReused() async throws {
        let server = try HTTPFixture { _ in .text("ok") }
        defer { server.shutdown() }
        let transport = CurlTransport()
        defer { transport.shutdown() }
        let start = ContinuousClock.now
        for _ in 0..<20 {
            _ = try await transport.execute(HTTPRequest(method: "GET", url: server.baseURL + "/"), sink: CollectingSink())
        }
        print("20 sequential requests took \(ContinuousClock.now - start)")
        #expect(server.connectionsAccepted == 1)
        #expect(transport.connectionsOpened == 1)
    }

    @Test func manyConcurrentRequestsComplete() async throws {
        let server = try HTTPFixture { req in .text(req.uri) }
        defer { server.shutdown() }
        let transport = CurlTransport()
        defer { transport.shutdown() }
        try await withThrowingTaskGroup(of: Bool.self) { group in
            for i in 0..<100 {
                group.addTask {
                    let sink = CollectingSink()
                    _ = try await transport.execute(HTTPRequest(method: "GET", url: server.baseURL + "/\(i)"), sink: sink)
                    return sink.body == Array("/\(i)".utf8)
                }
            }
            for try await ok in group { #expect(ok) }
        }
    }

    @Test func refusedConnectionIsAConnectFailure() async throws {
        let server = try HTTPFixture { _ in .text("") }
        let url = server.baseURL + "/"
        server.shutdown()  // nothing listens on that port any more
        let transport = CurlTransport()
        defer { transport.shutdown() }
        let kind = await failureKind { _ = try await transport.execute(HTTPRequest(method: "GET", url: url), sink: CollectingSink()) }
        #expect(kind == .connect)
    }

    @Test func droppedAndCutResponsesAreResets() async throws {
        let server = try HTTPFixture { req in
            req.uri == "/drop" ? FixtureResponse(behaviour: .dropConnection)
                : FixtureResponse(body: Array(repeating: 1, count: 1000), behaviour: .truncateBody(after: 100))
        }
        defer { server.shutdown() }
        let transport = CurlTransport()
        defer { transport.shutdown() }
        for path in ["/drop", "/cut"] {
            let kind = await failureKind {
                _ = try await transport.execute(HTTPRequest(method: "GET", url: server.baseURL + path), sink: CollectingSink())
            }
            #expect(kind == .reset, "\(path)")
        }
    }

    @Test func stalledServerTimesOut() async throws {
        let server = try HTTPFixture { _ in FixtureResponse(body: [1], delayMilliseconds: 5000) }
        defer { server.shutdown() }
        var options = CurlTransportOptions()
        options.lowSpeedTime = .seconds(1)
        let transport = CurlTransport(options: options)
        defer { transport.shutdown() }
        let kind = await failureKind {
            _ = try await transport.execute(HTTPRequest(method: "GET", url: server.baseURL + "/"), sink: CollectingSink())
        }
        #expect(kind == .timeout)
    }

    @Test func sinkRefusalAbortsTheTransfer() async throws {
        let server = try HTTPFixture { _ in FixtureResponse(body: Array(repeating: 7, count: 1 << 20)) }
        defer { server.shutdown() }
        let transport = CurlTransport()
        defer { transport.shutdown() }
        let kind = await failureKind {
            _ = try await transport.execute(HTTPRequest(method: "GET", url: server.baseURL + "/"),
                                            sink: CollectingSink(refuseAfter: 1000))
        }
        #expect(kind == .aborted)
    }

    @Test func cancellationEndsAWaitingRequest() async throws {
        let server = try HTTPFixture { _ in FixtureResponse(body: [1], delayMilliseconds: 30_000) }
        defer { server.shutdown() }
        let transport = CurlTransport()
        defer { transport.shutdown() }
        let task = Task {
            try await transport.execute(HTTPRequest(method: "GET", url: server.baseURL + "/"), sink: CollectingSink())
        }
        // Cancel once the server has the request, so the transfer is really in flight.
        let deadline = ContinuousClock.now + .seconds(5)
        while server.requests.isEmpty && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
        let start = ContinuousClock.now
        task.cancel()
        let kind = await failureKind { _ = try await task.value }
        #expect(kind == .aborted)
        #expect(ContinuousClock.now - start < .seconds(15))  // far sooner than the 30 s answer
    }

    /// The calling thread's name as the kernel has it.
    static func threadName() -> String {
        ((try? String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8)) ?? "")
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// `start` with its completion awaited (the completion's thread name alongside).
    func started(_ transport: CurlTransport, _ request: HTTPRequest, _ sink: CollectingSink,
                 cancelWhen: (@Sendable (@escaping @Sendable () -> Void) -> Void)? = nil) async
        -> (Result<HTTPResponseHead, any Error>, String?)
    {
        await withCheckedContinuation { (c: CheckedContinuation<(Result<HTTPResponseHead, any Error>, String?), Never>) in
            let cancel = transport.start(request, sink: sink) { c.resume(returning: ($0, Self.threadName())) }
            if let cancel, let cancelWhen { cancelWhen(cancel) }
        }
    }

    @Test func startedRequestsCompleteOnTheIOThread() async throws {
        let payload = (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 5 &+ $0 >> 10) }
        let server = try HTTPFixture { _ in FixtureResponse(status: 200, headers: [("X-Test", "yes")], body: payload) }
        defer { server.shutdown() }
        let transport = CurlTransport()
        defer { transport.shutdown() }
        let sink = CollectingSink()
        let (result, thread) = await started(transport, HTTPRequest(method: "GET", url: server.baseURL + "/o"), sink)
        let head = try result.get()
        #expect(head.status == 200)
        #expect(head.headers["x-test"] == "yes")
        #expect(sink.body == payload)
        #expect(thread == "ossmount-curl")
    }

    @Test func aStartedRequestIsCancelled() async throws {
        let server = try HTTPFixture { _ in FixtureResponse(body: [1], delayMilliseconds: 60_000) }
        defer { server.shutdown() }
        let transport = CurlTransport()
        defer { transport.shutdown() }
        let cancelled = CancelTime()
        let (result, _) = await started(transport, HTTPRequest(method: "GET", url: server.baseURL + "/"), CollectingSink()) {
            cancel in
            // Cancel once the server has the request, so the transfer is really in flight.
            Task {
                let deadline = ContinuousClock.now + .seconds(5)
                while server.requests.isEmpty && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
                cancelled.mark()
                cancel()
            }
        }
        let kind = await failureKind { _ = try result.get() }
        #expect(kind == .aborted)
        // Ended by the cancel, far sooner than the 60 s answer, however loaded the machine
        // (timed from the cancel, not from the test's start).
        let since = cancelled.at.map { ContinuousClock.now - $0 }
        #expect(since.map { $0 < .seconds(30) } == true)
    }
}

/// When a test called cancel.
final class CancelTime: Sendable {
    private let instant = Mutex<ContinuousClock.Instant?>(nil)
    func mark() { instant.withLock { $0 = ContinuousClock.now } }
    var at: ContinuousClock.Instant? { instant.withLock { $0 } }
}
