// `cache_dir`: chunks of objects kept on local disk, least recently used evicted
// within `cache_size`. One file per chunk, `blocks/XX/NAME` (NAME from SHA-256 of
// key, ETag, index and length), holding a header (magic, length, page size, the
// chunk's identity), the CRC-64 of every 32 KiB page, and, from the next 4 KiB
// boundary, the bytes. A block is written under a temporary name in its own
// directory (creates spread over 256 directories, not queued on one) and renamed
// into place, so a crash leaves either no block or a whole one; every read checks
// the identity and the CRC-64 of each page it returns (a 4 KiB read reads and
// checks one page, not the chunk), and a block that fails is deleted and fetched
// again, never served. Writes and reads of whole chunks bypass the page cache
// (O_DIRECT, where the filesystem allows it): the kernel keeps what it served in
// the mount's own page cache already, and a copy in the block file's would cost a
// second copy of every byte and twice the memory; random reads of parts of a
// chunk go through the page cache, which keeps their neighbours. Space is
// reserved (evicting first) before a block is written, so the files never add up
// to more than `cache_size`. A full disk turns the cache off for writes, with one
// warning; reads go on uncached. The blocks stay across remounts (the index is
// rebuilt from the files at start); a lock file keeps a second mount out of the
// same directory. File I/O runs on a Dispatch queue of its own, never on the
// cooperative pool.
import CLibc
import Dispatch
import Foundation
import Logging
import ObjectStore
import OSSCrypto
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

public struct CacheSetupError: Error, CustomStringConvertible, Sendable {
    public let description: String
}

public final class DiskChunkCache: ChunkCache {
    public let directory: String
    public let capacity: Int64
    let logger: Logger
    private let lockFD: Int32
    private let io = DispatchQueue(label: "ossmount.cache", qos: .userInitiated, attributes: .concurrent)

    static let magic = Array("OSSMCCH3".utf8)
    /// Blocks of earlier formats (one CRC for the chunk; bytes not 4 KiB aligned): dropped
    /// quietly at first use.
    static let oldMagics = [Array("OSSMCCH1".utf8), Array("OSSMCCH2".utf8)]
    /// magic, length, page size, identity length.
    static let headerSize = 8 + 8 + 4 + 4
    /// Where a block's bytes start (a multiple of), and the alignment of the memory, the
    /// offsets and the lengths of reads that bypass the page cache.
    static let alignment = 4096
    /// Bytes per checked page: a random 4 KiB read checks 32 KiB (about 3 µs of CRC-64)
    /// and the table of an 8 MiB chunk is 2 KiB.
    static let pageSize = 32 << 10

    private struct Entry {
        var bytes: Int64
        var lastUse: UInt64
        /// Being written: not on disk under its name yet, so it cannot be evicted (an
        /// unlink now would miss it, and the rename after would leave it uncounted).
        var writing = false
    }
    private struct State {
        var entries: [String: Entry] = [:]
        var total: Int64 = 0
        /// Bytes of evicted blocks not unlinked yet: still on disk, so still counted.
        var dying: Int64 = 0
        var tick: UInt64 = 0
        /// Writes stopped (the disk is full or failing); loads go on.
        var writesOff = false
    }
    private let state = Mutex(State())
    /// Blocks are written, and read whole, with O_DIRECT until the filesystem refuses it once.
    private let direct: Atomic<Bool>

    /// Where the parts of a chunk's block lie.
    struct Layout {
        let identity: [UInt8]
        let pages: Int
        init(_ id: ChunkID) {
            identity = DiskChunkCache.identity(id)
            pages = DiskChunkCache.pages(id.length)
        }
        /// The header: fixed fields, the identity, the CRC table.
        var headerBytes: Int { DiskChunkCache.headerSize + identity.count + 8 * pages }
        /// The chunk's bytes start at the next 4 KiB boundary past the header.
        var dataOffset: Int { DiskChunkCache.alignedUp(headerBytes) }
    }

    /// Opens (creating) the directory, takes its lock and indexes the blocks already there.
    /// `directIO`: false goes through the page cache from the start (tests of that path).
    public init(directory: String, capacity: Int64, logger: Logger, directIO: Bool = true) throws(CacheSetupError) {
        direct = Atomic(directIO)
        self.directory = directory
        self.capacity = capacity
        self.logger = logger
        let fm = FileManager.default
        do {
            try fm.createDirectory(atPath: "\(directory)/blocks", withIntermediateDirectories: true)
        } catch {
            throw CacheSetupError(description: "cannot use cache_dir \(directory): \(Self.reason(error)); pass a writable directory")
        }
        let fd = open("\(directory)/lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw CacheSetupError(description: "cannot use cache_dir \(directory): \(String(cString: strerror(errno))); pass a writable directory")
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            throw CacheSetupError(description: "cache_dir \(directory) is in use by another mount: give each mount its own")
        }
        lockFD = fd
        // The block directories, one per first two hex digits of a block's name.
        for i in 0..<256 { mkdir("\(directory)/blocks/\(Hex.lower([UInt8(i)]))", 0o700) }
        // Where earlier versions wrote blocks before renaming them.
        for name in (try? fm.contentsOfDirectory(atPath: "\(directory)/tmp")) ?? [] { unlink("\(directory)/tmp/\(name)") }
        rmdir("\(directory)/tmp")
        var found: [(String, Int64, Double)] = []
        for sub in (try? fm.contentsOfDirectory(atPath: "\(directory)/blocks")) ?? [] {
            for name in (try? fm.contentsOfDirectory(atPath: "\(directory)/blocks/\(sub)")) ?? [] {
                let file = "\(directory)/blocks/\(sub)/\(name)"
                // Leftovers of writes a crash interrupted.
                if name.contains(Self.temporaryMark) {
                    unlink(file)
                    continue
                }
                var st = stat()
                guard stat(file, &st) == 0 else { continue }
                found.append((name, Self.onDisk(Int64(st.st_size)), Double(st.st_atim.tv_sec)))
            }
        }
        // Oldest first, so their ticks are the lowest.
        found.sort { $0.2 < $1.2 }
        var excess: [(String, Int64)] = []
        state.withLock { s in
            for (name, bytes, _) in found {
                s.tick += 1
                s.entries[name] = Entry(bytes: bytes, lastUse: s.tick)
                s.total += bytes
            }
            excess = Self.evict(&s, toFit: 0, capacity: capacity)
            s.dying = 0
        }
        for (name, _) in excess { unlink(path(name)) }
    }

    deinit { close(lockFD) }

    /// Bytes the cache's blocks take now, by its own count.
    public var used: Int64 { state.withLock { $0.total } }

    // MARK: ChunkCache

    public func contains(_ id: ChunkID) -> Bool {
        let name = Self.name(id)
        return state.withLock { $0.entries[name] != nil }
    }

    public func load(_ id: ChunkID, into: MutableBytes) async -> Bool {
        guard into.pointer.count >= id.length else { return false }
        // Safety: `into` is the caller's buffer of at least id.length bytes, alive and
        // untouched by anyone else until load returns (MutableBytes' contract).
        let target = MutableBytes(UnsafeMutableRawBufferPointer(rebasing: into.pointer[0..<id.length]))
        return await onIOQueue { self.readBlock(id, range: 0..<id.length, into: target) }
    }

    public func readNow(_ id: ChunkID, range: Range<Int>, into: MutableBytes) -> Bool {
        guard range.lowerBound >= 0, range.upperBound <= id.length, !range.isEmpty, into.pointer.count >= range.count else {
            return false
        }
        return readBlock(id, range: range, into: into)
    }

    /// Fills `into` with bytes `range` of the chunk's block, counting a use of it; a
    /// damaged block is dropped. Blocks on file I/O.
    private func readBlock(_ id: ChunkID, range: Range<Int>, into: MutableBytes) -> Bool {
        let name = Self.name(id)
        guard state.withLock({ s -> Bool in
            guard s.entries[name] != nil else { return false }
            s.tick += 1
            s.entries[name]!.lastUse = s.tick
            return true
        }) else { return false }
        switch read(name: name, id: id, range: range, into: into) {
        case .hit: return true
        case .missing: return false
        case .stale:
            drop(name)
            return false
        case .damaged(let why):
            logger.warning("cache block damaged; dropped and fetched again",
                           metadata: ["key": "\(id.key)", "chunk": "\(id.index)", "why": "\(why)"])
            drop(name)
            return false
        }
    }

    public func store(_ id: ChunkID, from bytes: UploadBody) async {
        guard bytes.count == id.length else { return }
        let name = Self.name(id)
        let size = Self.onDisk(Int64(Layout(id).dataOffset + id.length))
        guard size <= capacity else { return }
        let (evicted, admitted) = state.withLock { s -> ([(String, Int64)], Bool) in
            guard !s.writesOff, s.entries[name] == nil else { return ([], false) }
            let others = s.dying
            let gone = Self.evict(&s, toFit: size, capacity: capacity)
            // Blocks evicted by other stores and not unlinked yet may leave no room now.
            guard s.total + others + size <= capacity else { return (gone, false) }
            s.tick += 1
            s.entries[name] = Entry(bytes: size, lastUse: s.tick, writing: true)
            s.total += size
            return (gone, true)
        }
        if evicted.isEmpty && !admitted { return }
        let failure = await onIOQueue { () -> Int32? in
            for (old, bytes) in evicted {
                unlink(self.path(old))
                self.state.withLock { $0.dying -= bytes }
            }
            return admitted ? self.write(name: name, id: id, bytes: bytes) : nil
        }
        guard let failure else {
            state.withLock { $0.entries[name]?.writing = false }
            return
        }
        drop(name)
        if failure == ENOSPC || failure == EDQUOT || failure == EROFS || failure == EIO {
            let first = state.withLock { s -> Bool in
                defer { s.writesOff = true }
                return !s.writesOff
            }
            if first {
                logger.warning("cache_dir cannot take more blocks; reads go on without caching new ones",
                               metadata: ["cache_dir": "\(directory)", "error": "\(String(cString: strerror(failure)))"])
            }
        }
    }

    // MARK: blocks on disk

    private enum ReadResult { case hit, missing, stale, damaged(String) }

    static func pages(_ length: Int) -> Int { (length + pageSize - 1) / pageSize }

    /// Whether writes and whole reads bypass the page cache (the filesystem has taken
    /// O_DIRECT so far).
    var bypassesPageCache: Bool { direct.load(ordering: .relaxed) }

    /// Reads bytes `range` of a block into `into` (exactly range.count bytes), checking the
    /// identity and the CRC-64 of every page the range touches. A whole chunk is read
    /// with O_DIRECT (the kernel keeps what it serves in the mount's own pages); part of
    /// one (a random read into a large file) through the page cache, which keeps the rest
    /// of its 32 KiB page and the header for the next random read nearby: the mount's page
    /// cache holds only the 4 KiB that were asked for.
    private func read(name: String, id: ChunkID, range: Range<Int>, into: MutableBytes) -> ReadResult {
        let direct = range == 0..<id.length && direct.load(ordering: .relaxed)
        let fd = open(path(name), O_RDONLY | O_CLOEXEC | (direct ? CLibc_o_direct() : 0))
        if fd < 0 && direct && errno == EINVAL { return readBuffered(name: name, id: id, range: range, into: into) }
        guard fd >= 0 else { return .missing }  // being written, or evicted meanwhile
        defer { close(fd) }
        let layout = Layout(id)
        // The pages the range touches, read whole (each is checked whole): straight into
        // `into` when the range is whole pages and `into` is aligned (a chunk loaded
        // whole; its last partial 4 KiB through `tail`), else into scratch memory the
        // range is copied out of. With the header in one read when they start the block.
        let pageSize = Self.pageSize
        let first = range.lowerBound / pageSize, last = (range.upperBound - 1) / pageSize
        let from = first * pageSize, to = min(id.length, (last + 1) * pageSize), count = to - from
        // O_DIRECT wants memory, offsets and lengths in whole 4 KiB; buffered reads do not.
        let align = direct ? Self.alignment : 16
        let header = UnsafeMutableRawBufferPointer.allocate(byteCount: layout.dataOffset, alignment: align)
        header.storeBytes(of: 0, as: UInt64.self)  // the magic's place, read even when the file is shorter
        let straight = range == from..<to && Int(bitPattern: into.pointer.baseAddress) % align == 0
        let scratch = straight ? nil : UnsafeMutableRawBufferPointer.allocate(
            byteCount: direct ? Self.alignedUp(count) : count, alignment: align)
        let whole = direct ? count / Self.alignment * Self.alignment : count
        let tail = straight && whole < count ? Self.alignedMemory(Self.alignment) : nil
        defer {
            header.deallocate()
            scratch?.deallocate()
            tail?.deallocate()
        }
        // Safety: `into` holds range.count bytes (the callers' contract), which is `count`
        // when there is no scratch memory; `whole` <= count.
        let pagesRead = scratch ?? UnsafeMutableRawBufferPointer(rebasing: into.pointer[0..<count])
        let body = scratch.map { [$0] } ?? [UnsafeMutableRawBufferPointer(rebasing: pagesRead[0..<whole])] + (tail.map { [$0] } ?? [])
        let complete: Bool
        do throws(IOFailure) {
            if from == 0 {
                complete = try Self.read(fd, into: [header] + body, at: 0) >= layout.dataOffset + count
            } else {
                let headerRead = try Self.read(fd, into: [header], at: 0)
                let bodyRead = headerRead == header.count ? try Self.read(fd, into: body, at: layout.dataOffset + from) : 0
                complete = headerRead == header.count && bodyRead >= count
            }
        } catch {
            guard direct && error.code == EINVAL else { return .damaged("read: \(String(cString: strerror(error.code)))") }
            return readBuffered(name: name, id: id, range: range, into: into)
        }
        let bytes = Array(UnsafeRawBufferPointer(rebasing: header[0..<8]))  // header.count >= 4096
        if Self.oldMagics.contains(bytes) { return .stale }
        guard complete else { return .damaged("short block") }
        guard bytes == Self.magic else { return .damaged("not a block") }
        let fields = Array(UnsafeRawBufferPointer(rebasing: header[0..<layout.headerBytes]))
        let length = Self.uint64(fields, at: 8)
        let storedPageSize = Int(Self.uint32(fields, at: 16)), idLength = Int(Self.uint32(fields, at: 20))
        guard idLength == layout.identity.count, storedPageSize == pageSize, length == UInt64(id.length),
            Array(fields[Self.headerSize..<(Self.headerSize + idLength)]) == layout.identity
        else { return .damaged("another chunk's block") }
        if let tail {
            // Safety: the last count - whole (< 4096) bytes of the pages, read into `tail`.
            UnsafeMutableRawBufferPointer(rebasing: pagesRead[whole..<count])
                .copyMemory(from: UnsafeRawBufferPointer(rebasing: tail[0..<(count - whole)]))
        }
        for page in first...last {
            let start = page * pageSize - from, end = min(count, start + pageSize)
            guard CRC64.checksum(UnsafeRawBufferPointer(rebasing: pagesRead[start..<end]))
                == Self.uint64(fields, at: Self.headerSize + idLength + 8 * page)
            else { return .damaged("CRC-64 mismatch in page \(page)") }
        }
        if let scratch {
            // Safety: [lower - from, upper - from) lies inside the scratch pages.
            into.pointer.copyMemory(from: UnsafeRawBufferPointer(
                rebasing: scratch[(range.lowerBound - from)..<(range.upperBound - from)]))
        }
        return .hit
    }

    /// `read` again through the page cache, from now on: the filesystem refused O_DIRECT.
    private func readBuffered(name: String, id: ChunkID, range: Range<Int>, into: MutableBytes) -> ReadResult {
        withoutDirectIO { read(name: name, id: id, range: range, into: into) }
    }

    /// Bytes read into `buffers`, back to back from `offset` (one preadv): fewer than they
    /// hold only at the end of the file.
    private static func read(_ fd: Int32, into buffers: [UnsafeMutableRawBufferPointer], at offset: Int) throws(IOFailure) -> Int {
        let vectors = buffers.map { iovec(iov_base: $0.baseAddress, iov_len: $0.count) }
        while true {
            let n = vectors.withUnsafeBufferPointer { preadv(fd, $0.baseAddress, Int32($0.count), off_t(offset)) }
            if n >= 0 { return n }
            if errno != EINTR { throw IOFailure(code: errno) }
        }
    }

    struct IOFailure: Error { let code: Int32 }

    static func alignedMemory(_ count: Int) -> UnsafeMutableRawBufferPointer {
        .allocate(byteCount: count, alignment: alignment)
    }

    static func alignedUp(_ n: Int) -> Int { (n + alignment - 1) / alignment * alignment }

    /// Marks the name of a block being written (block names are hex digits only).
    static let temporaryMark = ".tmp-"

    /// Writes the block under a temporary name and renames it into place; the errno of a
    /// failure.
    private func write(name: String, id: ChunkID, bytes: UploadBody) -> Int32? {
        let layout = Layout(id), identity = layout.identity
        var header = Self.magic
        func append(_ v: UInt64, bytes count: Int) {
            for i in 0..<count { header.append(UInt8(truncatingIfNeeded: v >> (8 * UInt64(i)))) }
        }
        append(UInt64(id.length), bytes: 8)
        append(UInt64(Self.pageSize), bytes: 4)
        append(UInt64(identity.count), bytes: 4)
        header += identity
        bytes.withUnsafeBytes { p in
            for page in 0..<Self.pages(id.length) {
                let start = page * Self.pageSize
                append(CRC64.checksum(UnsafeRawBufferPointer(rebasing: p[start..<min(p.count, start + Self.pageSize)])), bytes: 8)
            }
        }
        header += [UInt8](repeating: 0, count: layout.dataOffset - header.count)
        let tmp = path(name) + Self.temporaryMark + "\(UInt64.random(in: 0...UInt64.max))"
        let direct = direct.load(ordering: .relaxed)
        let flags = O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | (direct ? CLibc_o_direct() : 0)
        var fd = open(tmp, flags, 0o600)
        if fd < 0 && errno == ENOENT && mkdir("\(directory)/blocks/\(name.prefix(2))", 0o700) == 0 {
            fd = open(tmp, flags, 0o600)  // its directory (made at start) was removed meanwhile
        }
        if fd < 0 && direct && errno == EINVAL { return withoutDirectIO { write(name: name, id: id, bytes: bytes) } }
        guard fd >= 0 else { return errno }
        var failure = bytes.withUnsafeBytes { data in
            direct ? Self.writeDirect(fd, header: header, data: data) : Self.writeBuffered(fd, header: header, data: data)
        }
        if failure == EINVAL && direct {
            close(fd)
            unlink(tmp)
            return withoutDirectIO { write(name: name, id: id, bytes: bytes) }
        }
        if close(fd) != 0 && failure == nil { failure = errno }
        if failure == nil && rename(tmp, path(name)) != 0 { failure = errno }
        if failure != nil { unlink(tmp) }
        return failure
    }

    /// Writes a block's header and bytes with one pwritev that bypasses the page cache:
    /// whole 4 KiB pieces from aligned memory, the last partial one zero-padded and cut off
    /// after. The errno of a failure (EINVAL: the filesystem refuses O_DIRECT).
    private static func writeDirect(_ fd: Int32, header: [UInt8], data: UnsafeRawBufferPointer) -> Int32? {
        let whole = data.count / alignment * alignment
        let head = alignedMemory(header.count)
        // Bytes from memory that is not page-aligned go through a copy that is.
        let copy = Int(bitPattern: data.baseAddress) % alignment == 0 ? nil : alignedMemory(max(whole, 1))
        let tail = whole < data.count ? alignedMemory(alignment) : nil
        defer {
            head.deallocate()
            copy?.deallocate()
            tail?.deallocate()
        }
        head.copyBytes(from: header)
        // Safety: `whole` <= data.count, and `copy` holds `whole` bytes when it exists.
        let body = UnsafeRawBufferPointer(rebasing: data[0..<whole])
        if let copy { copy.copyMemory(from: body) }
        var pieces = [UnsafeRawBufferPointer(head), copy.map { UnsafeRawBufferPointer(rebasing: $0[0..<whole]) } ?? body]
        if let tail {
            tail.initializeMemory(as: UInt8.self, repeating: 0)
            tail.copyMemory(from: UnsafeRawBufferPointer(rebasing: data[whole...]))
            pieces.append(UnsafeRawBufferPointer(tail))
        }
        let vectors = pieces.map { iovec(iov_base: UnsafeMutableRawPointer(mutating: $0.baseAddress), iov_len: $0.count) }
        let total = pieces.reduce(0) { $0 + $1.count }
        var n: Int
        repeat {
            n = vectors.withUnsafeBufferPointer { pwritev(fd, $0.baseAddress, Int32($0.count), 0) }
        } while n < 0 && errno == EINTR
        if n < 0 { return errno }
        if n < total { return ENOSPC }  // a short write to a regular file: the disk is full
        return tail == nil || ftruncate(fd, off_t(header.count + data.count)) == 0 ? nil : errno
    }

    /// Writes a block's header and bytes through the page cache; the errno of a failure.
    private static func writeBuffered(_ fd: Int32, header: [UInt8], data: UnsafeRawBufferPointer) -> Int32? {
        var failure: Int32?
        func put(_ p: UnsafeRawBufferPointer, at offset: Int) {
            var done = 0
            while done < p.count && failure == nil {
                let n = pwrite(fd, p.baseAddress! + done, p.count - done, off_t(offset + done))
                if n < 0 { failure = errno } else { done += n }
            }
        }
        header.withUnsafeBytes { put($0, at: 0) }
        put(data, at: header.count)
        return failure
    }

    /// Turns O_DIRECT off for good (the filesystem refused it), then runs `body` again.
    private func withoutDirectIO<T>(_ body: () -> T) -> T {
        if direct.exchange(false, ordering: .relaxed) {
            logger.debug("cache_dir does not take O_DIRECT; its blocks go through the page cache",
                         metadata: ["cache_dir": "\(directory)"])
        }
        return body()
    }

    /// Forgets a block and deletes its file; its bytes count until the file is gone.
    private func drop(_ name: String) {
        let bytes = state.withLock { s -> Int64? in
            guard let e = s.entries.removeValue(forKey: name) else { return nil }
            s.total -= e.bytes
            s.dying += e.bytes
            return e.bytes
        }
        guard let bytes else { return }
        unlink(path(name))
        state.withLock { $0.dying -= bytes }
    }

    private func path(_ name: String) -> String { "\(directory)/blocks/\(name.prefix(2))/\(name)" }

    /// Removes least recently used entries until `size` more bytes fit beside the blocks
    /// others evicted and have not unlinked yet (these count as `dying` until the caller
    /// unlinks them); their names and sizes.
    private static func evict(_ s: inout State, toFit size: Int64, capacity: Int64) -> [(String, Int64)] {
        var gone: [(String, Int64)] = []
        let others = s.dying  // evicted by others, still on disk
        while s.total + others + size > capacity,
            let (name, entry) = s.entries.lazy.filter({ !$0.value.writing }).min(by: { $0.value.lastUse < $1.value.lastUse })
        {
            s.entries[name] = nil
            s.total -= entry.bytes
            s.dying += entry.bytes
            gone.append((name, entry.bytes))
        }
        return gone
    }

    private func onIOQueue<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { c in io.async { c.resume(returning: body()) } }
    }

    static func identity(_ id: ChunkID) -> [UInt8] {
        Array("\(id.key)\u{0}\(id.etag)\u{0}\(id.index)\u{0}\(id.length)".utf8)
    }

    static func name(_ id: ChunkID) -> String {
        Hex.lower(Digest.sha256(identity(id)).prefix(20))
    }

    /// Bytes a file of `size` takes on disk (whole 4 KiB blocks).
    static func onDisk(_ size: Int64) -> Int64 { (size + 4095) / 4096 * 4096 }

    static func uint64(_ b: [UInt8], at i: Int) -> UInt64 {
        (0..<8).reduce(UInt64(0)) { $0 | UInt64(b[i + $1]) << (8 * UInt64($1)) }
    }

    static func uint32(_ b: [UInt8], at i: Int) -> UInt32 {
        (0..<4).reduce(UInt32(0)) { $0 | UInt32(b[i + $1]) << (8 * UInt32($1)) }
    }

    static func reason(_ error: any Error) -> String {
        (error as NSError).localizedFailureReason ?? (error as NSError).localizedDescription
    }
}
