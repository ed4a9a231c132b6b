// `cache_dir`: chunks of objects kept on local disk, least recently used evicted
// within `cache_size`. One file per chunk, `blocks/XX/NAME` (NAME from SHA-256 of
// key, ETag, index and length), holding a header (magic, length, page size, the
// chunk's identity), the CRC-64 of every 32 KiB page, and the bytes. A block is
// written to `tmp/` and renamed into place, so a crash leaves either no block or a
// whole one; every read checks the identity and the CRC-64 of each page it
// returns (a 4 KiB read reads and checks one page, not the chunk), and a block
// that fails is deleted and fetched again, never served. Space is reserved
// (evicting first) before a block is written, so the files never add up to more
// than `cache_size`. A full disk
// turns the cache off for writes, with one warning; reads go on uncached. The
// blocks stay across remounts (the index is rebuilt from the files at start); a
// lock file keeps a second mount out of the same directory. File I/O runs on a
// Dispatch queue of its own, never on the cooperative pool.
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

    static let magic = Array("OSSMCCH2".utf8)
    /// Blocks of the first format (one CRC for the chunk): dropped quietly at first use.
    static let oldMagic = Array("OSSMCCH1".utf8)
    /// magic, length, page size, identity length.
    static let headerSize = 8 + 8 + 4 + 4
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

    /// Opens (creating) the directory, takes its lock and indexes the blocks already there.
    public init(directory: String, capacity: Int64, logger: Logger) throws(CacheSetupError) {
        self.directory = directory
        self.capacity = capacity
        self.logger = logger
        let fm = FileManager.default
        do {
            for sub in ["blocks", "tmp"] {
                try fm.createDirectory(atPath: "\(directory)/\(sub)", withIntermediateDirectories: true)
            }
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
        // Leftovers of writes a crash interrupted.
        for name in (try? fm.contentsOfDirectory(atPath: "\(directory)/tmp")) ?? [] { unlink("\(directory)/tmp/\(name)") }
        var found: [(String, Int64, Double)] = []
        for sub in (try? fm.contentsOfDirectory(atPath: "\(directory)/blocks")) ?? [] {
            for name in (try? fm.contentsOfDirectory(atPath: "\(directory)/blocks/\(sub)")) ?? [] {
                var st = stat()
                guard stat("\(directory)/blocks/\(sub)/\(name)", &st) == 0 else { continue }
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
        let size = Self.onDisk(Int64(Self.headerSize + Self.identity(id).count + 8 * Self.pages(id.length) + id.length))
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

    /// Reads bytes `range` of a block into `into` (exactly range.count bytes), checking the
    /// identity and the CRC-64 of every page the range touches.
    private func read(name: String, id: ChunkID, range: Range<Int>, into: MutableBytes) -> ReadResult {
        let fd = open(path(name), O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return .missing }  // being written, or evicted meanwhile
        defer { close(fd) }
        let identity = Self.identity(id)
        let pages = Self.pages(id.length)
        let dataStart = Self.headerSize + identity.count + 8 * pages
        var header = [UInt8](repeating: 0, count: dataStart)
        let got = header.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        if got >= 8 && Array(header[0..<8]) == Self.oldMagic { return .stale }
        guard got == header.count else { return .damaged("short header") }
        guard Array(header[0..<8]) == Self.magic else { return .damaged("not a block") }
        let length = Self.uint64(header, at: 8)
        let pageSize = Int(Self.uint32(header, at: 16)), idLength = Int(Self.uint32(header, at: 20))
        guard idLength == identity.count, pageSize == Self.pageSize, length == UInt64(id.length),
            Array(header[Self.headerSize..<(Self.headerSize + idLength)]) == identity
        else { return .damaged("another chunk's block") }
        // The pages the range touches, read whole (each is checked whole): straight into
        // `into` when the range is whole pages (a chunk loaded whole), else into scratch
        // memory the range is copied out of.
        let first = range.lowerBound / pageSize, last = (range.upperBound - 1) / pageSize
        let from = first * pageSize, to = min(id.length, (last + 1) * pageSize)
        let scratch = range == from..<to ? nil : UnsafeMutableRawBufferPointer.allocate(byteCount: to - from, alignment: 16)
        defer { scratch?.deallocate() }
        // Safety: `into` holds range.count bytes (the callers' contract), which is to - from
        // when there is no scratch memory.
        let pagesRead = scratch ?? UnsafeMutableRawBufferPointer(rebasing: into.pointer[0..<(to - from)])
        var done = 0
        while done < pagesRead.count {
            let n = pread(fd, pagesRead.baseAddress! + done, pagesRead.count - done, off_t(dataStart + from + done))
            if n <= 0 { return .damaged("short block") }
            done += n
        }
        for page in first...last {
            let start = page * pageSize - from, end = min(to - from, start + pageSize)
            guard CRC64.checksum(UnsafeRawBufferPointer(rebasing: pagesRead[start..<end]))
                == Self.uint64(header, at: Self.headerSize + idLength + 8 * page)
            else { return .damaged("CRC-64 mismatch in page \(page)") }
        }
        if let scratch {
            // Safety: [lower - from, upper - from) lies inside the scratch pages.
            into.pointer.copyMemory(from: UnsafeRawBufferPointer(
                rebasing: scratch[(range.lowerBound - from)..<(range.upperBound - from)]))
        }
        return .hit
    }

    /// Writes the block to tmp/ and renames it into place; the errno of a failure.
    private func write(name: String, id: ChunkID, bytes: UploadBody) -> Int32? {
        let identity = Self.identity(id)
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
        let tmp = "\(directory)/tmp/\(name).\(UInt64.random(in: 0...UInt64.max))"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return errno }
        var failure: Int32?
        func put(_ p: UnsafeRawBufferPointer, at offset: Int) {
            var done = 0
            while done < p.count && failure == nil {
                let n = pwrite(fd, p.baseAddress! + done, p.count - done, off_t(offset + done))
                if n < 0 { failure = errno } else { done += n }
            }
        }
        header.withUnsafeBytes { put($0, at: 0) }
        bytes.withUnsafeBytes { put($0, at: header.count) }
        if close(fd) != 0 && failure == nil { failure = errno }
        let dir = "\(directory)/blocks/\(name.prefix(2))"
        if failure == nil && mkdir(dir, 0o700) != 0 && errno != EEXIST { failure = errno }
        if failure == nil && rename(tmp, path(name)) != 0 { failure = errno }
        if failure != nil { unlink(tmp) }
        return failure
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
