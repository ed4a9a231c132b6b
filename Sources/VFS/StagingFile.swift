// A local file that holds a file being edited: writes land anywhere, reads see
// them, and close uploads the whole file (PutObject, or multipart from the file
// in part-sized pieces through the memory pool). Used for writes that are not
// front to back and for edits of existing objects; the file is unlinked at
// creation, so nothing is left behind if the daemon dies. All staging files
// together hold at most `staging_max` bytes (StagingBudget); past it a write
// fails with ENOSPC, as a full disk would.
import CLibc
import Dispatch
import ObjectStore
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Blocking file calls (pwrite, pread, ftruncate of staging files) run on this queue's
/// threads, not on Swift's cooperative pool: that pool has one thread per core and
/// serves every task, so a disk wait there would stall reads and uploads of all files.
enum BlockingIO {
    static let queue = DispatchQueue(label: "ossmount.staging-io", attributes: .concurrent)

    static func run<T: Sendable>(_ body: @escaping @Sendable () throws(VFSError) -> T) async throws(VFSError) -> T {
        let result: Result<T, VFSError> = await withCheckedContinuation { c in
            queue.async { c.resume(returning: Result { () throws(VFSError) -> T in try body() }) }
        }
        return try result.get()
    }
}

/// Memory a caller lends to a blocking write while it awaits the write.
/// Safety: the caller keeps the memory alive and unchanged until the awaited call
/// returns, and only the I/O thread reads it meanwhile.
struct LentBytes: @unchecked Sendable {
    let pointer: UnsafeRawBufferPointer
}

/// Bytes held by all staging files, against `staging_max` (0: unlimited).
final class StagingBudget: Sendable {
    let limit: UInt64
    private let bytes = Mutex<UInt64>(0)
    init(limit: UInt64) { self.limit = limit }

    var used: UInt64 { bytes.withLock { $0 } }

    /// Changes the bytes held by `delta`; false (and no change) when growth passes the limit.
    func adjust(by delta: Int64) -> Bool {
        bytes.withLock { u in
            let new = Int64(u) + delta
            if delta > 0 && limit > 0 && UInt64(new) > limit { return false }
            u = UInt64(max(0, new))
            return true
        }
    }
}

final class StagingFile: Sendable {
    private let fd: Int32
    /// The same file opened with O_DIRECT, for copies of uploaded parts: no page-cache
    /// copy (a buffered copy cost more CPU than the upload itself).
    private let directFD: Int32
    private let budget: StagingBudget
    private let state = Mutex<(size: UInt64, dirty: Bool)>((0, true))

    /// The default bound on a streamed file's copy kept for seek-backs: the smaller of
    /// 4 GiB and a quarter of the staging directory's free space, so a checkpoint of any
    /// size never fills the disk (past it, a seek back gets ENOTSUP).
    static func defaultSeekableLimit(directory: String) -> UInt64 {
        var st = statvfs()
        guard statvfs(directory, &st) == 0 else { return 0 }
        return min(4 << 30, UInt64(st.f_bavail) * UInt64(st.f_frsize) / 4)
    }

    init(directory: String, budget: StagingBudget) throws(VFSError) {
        self.budget = budget
        var template = Array((directory + "/ossmount-staging-XXXXXX").utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else { throw .io("cannot create a staging file in \(directory): \(String(cString: strerror(errno)))") }
        directFD = open("/proc/self/fd/\(fd)", O_WRONLY | CLibc_o_direct())  // -1: not supported here
        template.withUnsafeBufferPointer { _ = unlink($0.baseAddress!) }
        self.fd = fd
    }

    deinit {
        if directFD >= 0 { close(directFD) }
        close(fd)
        _ = budget.adjust(by: -Int64(size))
    }

    /// Reserves growth to `newSize` in the budget.
    private func grow(to newSize: UInt64) throws(VFSError) {
        let old = size
        if newSize > old && !budget.adjust(by: Int64(newSize - old)) { throw .noSpace }
    }

    /// The file now equals the object on OSS.
    func markClean() { state.withLock { $0.dirty = false } }

    var size: UInt64 { state.withLock { $0.size } }

    func write(offset: UInt64, bytes: [UInt8]) async throws(VFSError) {
        try await BlockingIO.run { [self] () throws(VFSError) in
            let result = bytes.withUnsafeBytes { p in Result { () throws(VFSError) in try write(offset: offset, raw: p, fd: fd) } }
            try result.get()
        }
    }

    /// Like `write`, bypassing the page cache when offset, length and address are
    /// block-aligned (a part-sized buffer from the pool at a part boundary is). `p` must
    /// stay valid and unchanged until this returns.
    func writeThrough(offset: UInt64, raw p: UnsafeRawBufferPointer) async throws(VFSError) {
        let aligned = directFD >= 0 && offset % 4096 == 0 && p.count % 4096 == 0 && Int(bitPattern: p.baseAddress) % 4096 == 0
        let (lent, target) = (LentBytes(pointer: p), aligned ? directFD : fd)
        try await BlockingIO.run { [self] () throws(VFSError) in try write(offset: offset, raw: lent.pointer, fd: target) }
    }

    private func write(offset: UInt64, raw p: UnsafeRawBufferPointer, fd: Int32) throws(VFSError) {
        let end = offset + UInt64(p.count)
        try grow(to: end)
        // Safety: each pwrite reads [done, count) of `p`, inside the caller's buffer.
        var done = 0
        var failure: Int32?
        while done < p.count {
            let n = pwrite(fd, p.baseAddress! + done, p.count - done, off_t(offset) + off_t(done))
            if n < 0 {
                if errno == EINTR { continue }
                failure = errno
                break
            }
            done += n
        }
        if let failure {
            if end > size { _ = budget.adjust(by: -Int64(end - size)) }
            throw failure == ENOSPC || failure == EDQUOT ? .noSpace : .io("staging write: \(String(cString: strerror(failure)))")
        }
        state.withLock { s in
            s.size = max(s.size, end)
            s.dirty = true
        }
    }

    func truncate(_ size: UInt64) async throws(VFSError) {
        try await BlockingIO.run { [self] () throws(VFSError) in try truncateNow(size) }
    }

    private func truncateNow(_ size: UInt64) throws(VFSError) {
        let old = self.size
        try grow(to: size)
        guard ftruncate(fd, off_t(size)) == 0 else {
            if size > old { _ = budget.adjust(by: -Int64(size - old)) }
            throw errno == ENOSPC ? .noSpace : .io("staging truncate failed")
        }
        if size < old { _ = budget.adjust(by: -Int64(old - size)) }
        state.withLock { s in
            s.size = size
            s.dirty = true
        }
    }

    func read(offset: UInt64, count: Int) async -> [UInt8] {
        // Safety net only: the body does not throw.
        (try? await BlockingIO.run { [self] () throws(VFSError) in readNow(offset: offset, count: count) }) ?? []
    }

    private func readNow(offset: UInt64, count: Int) -> [UInt8] {
        let end = min(size, offset + UInt64(count))
        guard offset < end else { return [] }
        var out = [UInt8](repeating: 0, count: Int(end - offset))
        let got = out.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, off_t(offset)) }
        return Array(out.prefix(max(0, got)))
    }

    /// Copies the object's bytes [0, size) in (the caller marks the file clean if that is all it holds), in `chunk`-sized ranged GETs pinned to `etag`.
    func fill(from client: ObjectClient, key: String, etag: ETag?, size: UInt64, chunk: Int) async throws(VFSError) {
        var offset: UInt64 = 0
        while offset < size {
            let end = min(size, offset + UInt64(chunk))
            let bytes: [UInt8]
            do {
                bytes = try await client.getBytes(key, range: ByteRange(offset, end), ifMatch: etag)
            } catch {
                throw VFSError(error)
            }
            try await write(offset: offset, bytes: bytes)
            offset = end
        }
    }

    /// Uploads the whole file if it changed since the last upload; nil when it did not.
    func upload(client: ObjectClient, key: String, options: WriteOptions, partSize: Int, pool: BufferPool)
        async throws(VFSError) -> WriteResult?
    {
        let (total, dirty) = state.withLock { ($0.size, $0.dirty) }
        guard dirty else { return nil }
        do {
            let result: WriteResult
            if total <= UInt64(partSize) {
                result = try await client.putObject(key, bytes: await read(offset: 0, count: Int(total)), options: options)
            } else {
                result = try await Multipart.upload(client, key: key, options: options, size: total, partSize: partSize) {
                    await read(offset: $0.lowerBound, count: Int($0.count))
                }
            }
            state.withLock { $0.dirty = false }
            return result
        } catch {
            throw VFSError(error)
        }
    }
}
