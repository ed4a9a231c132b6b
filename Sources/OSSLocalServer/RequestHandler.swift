// One connection's requests, in order (NIO's pipeline handler holds back a
// pipelined request until the previous answer ended).
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import OSSClient
import OSSCrypto

final class RequestHandler: ChannelInboundHandler, @unchecked Sendable {
    // Safety: NIO calls a handler only on its channel's event loop, and every
    // continuation below hops back to that loop before touching `self`'s state.
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let context: HandlerContext
    /// Behind TLS: file bodies cannot go by sendfile and are read in chunks instead.
    let secure: Bool

    /// The request being received.
    private final class Pending: @unchecked Sendable {
        // Safety: created, filled and read only on the connection's event loop.
        var request: ParsedRequest
        var operation: LocalOperation?
        var error: OSSError?
        var admin = false
        var writer: BlobWriter?
        var bucket: BucketStore?
        let md5 = MD5Hasher()
        var crc = CRC64()
        var size: Int64 = 0
        var document: [UInt8] = []
        let started: Double
        let requestId: String

        init(request: ParsedRequest, started: Double, requestId: String) {
            self.request = request
            self.started = started
            self.requestId = requestId
        }
    }
    private var pending: Pending?

    /// Small documents (Complete, DeleteMultiple) are read whole; anything larger is refused.
    static let documentLimit = 16 << 20

    init(context: HandlerContext, secure: Bool = false) {
        self.context = context
        self.secure = secure
    }

    func channelRead(context ctx: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): begin(ctx, head)
        case .body(let buffer): receive(buffer)
        case .end: finish(ctx)
        }
    }

    /// A client that goes away mid-body leaves nothing behind: the partial blob is dropped.
    func channelInactive(context ctx: ChannelHandlerContext) {
        if let p = pending, let writer = p.writer {
            writer.abandon()
            p.bucket?.blobs.delete(writer.id)
        }
        pending = nil
        ctx.fireChannelInactive()
    }

    private func begin(_ ctx: ChannelHandlerContext, _ head: HTTPRequestHead) {
        let request = ParsedRequest.parse(method: head.method.rawValue, uri: head.uri,
                                          headers: head.headers.map { (name: $0.name, value: $0.value) },
                                          domain: context.domain)
        let p = Pending(request: request, started: Date().timeIntervalSince1970,
                        requestId: String(UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(24)))
        if head.uri.hasPrefix("/-/osslocal/") {
            p.admin = true
        } else {
            do {
                let op = try context.service.route(request)
                p.operation = op
                if op != .assumeRoleWithOIDC { try context.service.authenticator.verify(request) }  // STS: unsigned
                if op.streamsBody {
                    let bucket = try context.service.bucket(request)
                    p.bucket = bucket
                    p.writer = try context.service.wrap { try bucket.blobs.create() }
                }
            } catch {
                p.error = error
            }
        }
        pending = p
        if p.error == nil, head.headers["Expect"].first?.lowercased() == "100-continue" {
            ctx.writeAndFlush(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: .continue))),
                              promise: nil)
        }
    }

    private func receive(_ buffer: ByteBuffer) {
        guard let p = pending, p.error == nil else { return }
        if let writer = p.writer {
            buffer.withUnsafeReadableBytes { bytes in
                p.md5.update(bytes)
                p.crc.update(bytes)
                do { try writer.write(bytes) } catch { p.error = .internalError("\(error)") }
            }
            p.size += Int64(buffer.readableBytes)
        } else if p.document.count + buffer.readableBytes <= Self.documentLimit {
            p.document += buffer.readableBytesView
        } else {
            p.error = OSSError(400, "EntityTooLarge", "The request body is too large.", ec: "0016-00000301")
        }
    }

    private func finish(_ ctx: ChannelHandlerContext) {
        guard let p = pending else { return }
        pending = nil
        if p.admin {
            respond(ctx, p, admin(p), op: "admin")
            return
        }
        var body = ReceivedBody.none
        if let writer = p.writer {
            if p.error == nil {
                do { try writer.finish() } catch { return fail(ctx, p, .internalError("\(error)")) }
                body = .blob(id: writer.id, size: p.size, md5: p.md5.finalize(), crc64: p.crc.value)
            } else {
                writer.abandon()
                p.bucket?.blobs.delete(writer.id)
            }
        } else if !p.document.isEmpty {
            body = .document(p.document)
        }
        if let error = p.error { return fail(ctx, p, error) }
        guard let op = p.operation else { return }

        let fault = context.faults.draw()
        switch fault {
        case .status(let status):
            discard(p, body)
            let code = status == 503 ? "ServiceUnavailable" : status == 429 ? "QpsLimitExceeded" : "InternalError"
            return fail(ctx, p, OSSError(status, code, "Injected fault.", ec: "0000-00000099"))
        case .reset:
            discard(p, body)
            record(p, op: op.rawValue, status: 0, bytes: 0)
            ctx.close(promise: nil)
            return
        case .truncate where op != .getObject:
            discard(p, body)
            record(p, op: op.rawValue, status: 0, bytes: 0)
            ctx.close(promise: nil)
            return
        default: break
        }

        let service = context.service
        let request = p.request
        let received = body
        let future = context.pool.runIfActive(eventLoop: ctx.eventLoop) { () -> Result<LocalResponse, OSSError> in
            service.run(op, request, body: received)
        }
        let loopCtx = NIOLoopBound(ctx, eventLoop: ctx.eventLoop)
        future.whenComplete { [self] outcome in
            let result: Result<LocalResponse, OSSError> = switch outcome {
            case .success(let r): r
            case .failure(let e): .failure(.internalError("\(e)"))
            }
            let send: @Sendable () -> Void = { [self] in
                switch result {
                case .success(let response): respond(loopCtx.value, p, response, op: op.rawValue, truncate: fault == .truncate)
                case .failure(let error): fail(loopCtx.value, p, error)
                }
            }
            if case .slow(let ms) = fault {
                loopCtx.value.eventLoop.scheduleTask(in: .milliseconds(ms), send)
            } else {
                send()
            }
        }
    }

    /// Drops a received body that will not be stored.
    private func discard(_ p: Pending, _ body: ReceivedBody) {
        if case .blob(let id, _, _, _) = body { p.bucket?.blobs.delete(id) }
    }

    private func fail(_ ctx: ChannelHandlerContext, _ p: Pending, _ error: OSSError) {
        let response = LocalResponse.error(error, requestId: p.requestId, host: p.request.header("Host") ?? "localhost",
                                           isHead: p.request.method == "HEAD")
        respond(ctx, p, response, op: p.operation?.rawValue ?? "unknown")
    }

    private func admin(_ p: Pending) -> LocalResponse {
        let path = p.request.uri.split(separator: "?").first.map(String.init) ?? ""
        switch (p.request.method, path) {
        case ("GET", "/-/osslocal/health"):
            return LocalResponse(status: 200, body: .bytes(ByteBuffer(string: "ok\n")), length: 3)
        case ("GET", "/-/osslocal/stats"):
            let text = "{\"connections\":\(context.stats.connections),\"tlsHandshakes\":\(context.stats.handshakes)}\n"
            return LocalResponse(status: 200, body: .bytes(ByteBuffer(string: text)), length: Int64(text.utf8.count))
        case ("GET", "/-/osslocal/faults"):
            let text = context.faults.spec.description + "\n"
            return LocalResponse(status: 200, body: .bytes(ByteBuffer(string: text)), length: Int64(text.utf8.count))
        case ("PUT", "/-/osslocal/faults"):
            do {
                context.faults.spec = try FaultSpec(parsing: String(decoding: p.document, as: UTF8.self))
                return LocalResponse(status: 204)
            } catch {
                let text = "\(error)\n"
                return LocalResponse(status: 400, body: .bytes(ByteBuffer(string: text)), length: Int64(text.utf8.count))
            }
        default:
            return LocalResponse(status: 404)
        }
    }

    private func record(_ p: Pending, op: String, status: Int, bytes: Int64) {
        guard let log = context.log else { return }
        let query = p.request.uri.split(separator: "?", maxSplits: 1).dropFirst().first.map(String.init) ?? ""
        log.record(method: p.request.method, op: op, bucket: p.request.bucket, key: p.request.key, query: query,
                   status: status, bytes: bytes, milliseconds: (Date().timeIntervalSince1970 - p.started) * 1000)
    }

    private func respond(_ ctx: ChannelHandlerContext, _ p: Pending, _ r: LocalResponse, op: String, truncate: Bool = false) {
        var headers = NIOHTTP1.HTTPHeaders()
        headers.add(name: "Server", value: "AliyunOSS")
        headers.add(name: "Date", value: HTTPDate.rfc1123(Int64(Date().timeIntervalSince1970)))
        headers.add(name: "x-oss-request-id", value: p.requestId)
        for (n, v) in r.headers { headers.add(name: n, value: v) }
        let bodyless = r.status == 204 || r.status == 304
        if !bodyless { headers.replaceOrAdd(name: "Content-Length", value: String(r.length)) }
        ctx.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .init(statusCode: r.status),
                                                         headers: headers))), promise: nil)
        record(p, op: op, status: r.status, bytes: p.request.method == "HEAD" ? 0 : r.length)
        let sendBody = p.request.method != "HEAD" && !bodyless
        switch r.body {
        case .none:
            break
        case .bytes(let buffer) where sendBody:
            writeBuffers(ctx, [buffer], truncate ? Int(r.length / 2) : nil)
        case .buffers(let buffers) where sendBody:
            writeBuffers(ctx, buffers, truncate ? Int(r.length / 2) : nil)
        case .files(let all) where sendBody:
            let ranges = truncate ? FileRange.prefix(all, r.length / 2) : all
            if secure {
                // TLS encrypts in user space: no sendfile. Chunks are read on the thread pool
                // and written one after another, each when the previous one was flushed.
                let loopCtx = NIOLoopBound(ctx, eventLoop: ctx.eventLoop)
                sendChunks(loopCtx, ranges[...]) { [self] ok in finishResponse(loopCtx.value, cut: truncate || !ok) }
                return
            }
            for range in ranges {
                let region = FileRegion(fileHandle: range.handle, readerIndex: Int(range.offset),
                                        endIndex: Int(range.offset + range.length))
                let done = ctx.eventLoop.makePromise(of: Void.self)
                done.futureResult.whenComplete { _ in try? range.handle.close() }
                ctx.write(wrapOutboundOut(.body(.fileRegion(region))), promise: done)
            }
        case .files(let ranges):
            for range in ranges { try? range.handle.close() }
        case .bytes, .buffers:
            break
        }
        finishResponse(ctx, cut: truncate)
    }

    /// Writes `buffers` as the body, or only their first `limit` bytes (an injected truncation).
    private func writeBuffers(_ ctx: ChannelHandlerContext, _ buffers: [ByteBuffer], _ limit: Int?) {
        var left = limit ?? Int.max
        for var b in buffers where left > 0 {
            if b.readableBytes > left { b = b.getSlice(at: b.readerIndex, length: left) ?? b }
            left -= b.readableBytes
            ctx.write(wrapOutboundOut(.body(.byteBuffer(b))), promise: nil)
        }
    }

    /// Ends the response, or (an injected truncation, a failed read) cuts the connection.
    private func finishResponse(_ ctx: ChannelHandlerContext, cut: Bool) {
        if cut {
            ctx.flush()
            ctx.close(promise: nil)
            return
        }
        ctx.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }

    /// Sends `ranges` in 1 MiB chunks read on the thread pool, closing each file when it is
    /// sent (or when sending stopped); `done` runs on the event loop with false when a read
    /// or write failed.
    private func sendChunks(_ loopCtx: NIOLoopBound<ChannelHandlerContext>, _ ranges: ArraySlice<FileRange>,
                            done: @escaping @Sendable (Bool) -> Void) {
        guard let range = ranges.first else { return done(true) }
        sendChunks(loopCtx, range.handle, from: range.offset, to: range.offset + range.length) { [self] ok in
            try? range.handle.close()
            guard ok else {
                for r in ranges.dropFirst() { try? r.handle.close() }
                return done(false)
            }
            sendChunks(loopCtx, ranges.dropFirst(), done: done)
        }
    }

    /// Sends bytes `from..<to` of `handle` in 1 MiB chunks read on the thread pool; `done`
    /// runs on the event loop with false when a read or write failed.
    private func sendChunks(_ loopCtx: NIOLoopBound<ChannelHandlerContext>, _ handle: NIOFileHandle, from: Int64,
                            to: Int64, done: @escaping @Sendable (Bool) -> Void) {
        guard from < to else { return done(true) }
        let count = Int(min(to - from, 1 << 20))
        let allocator = loopCtx.value.channel.allocator
        let eventLoop = loopCtx.value.eventLoop
        context.pool.runIfActive(eventLoop: eventLoop) { () throws -> ByteBuffer in
            var buffer = allocator.buffer(capacity: count)
            let got = try buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: count) { memory in
                // Safety: `memory` has at least `count` writable bytes; pread writes at most that many.
                try handle.withUnsafeFileDescriptor { fd in pread(fd, memory.baseAddress, count, off_t(from)) }
            }
            guard got > 0 else { throw BlobError(description: "short read of a blob") }
            return buffer
        }.flatMap { [self] buffer in
            loopCtx.value.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(buffer)))).map { buffer.readableBytes }
        }.whenComplete { [self] result in
            switch result {
            case .success(let sent): sendChunks(loopCtx, handle, from: from + Int64(sent), to: to, done: done)
            case .failure: done(false)
            }
        }
    }
}
