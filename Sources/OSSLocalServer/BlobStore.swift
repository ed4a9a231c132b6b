// Object bytes, apart from object metadata. A blob is written once (PUT, part,
// copy, Complete) and then only read, except an Appendable object's blob, which
// grows at its end. On disk each blob is a file `data/<id>`, fsynced before the
// metadata that names it is committed; in memory it is a ByteBuffer. Readers get
// a file range (sent with sendfile) or a buffer slice: never a copy.
import Foundation
import NIOCore
import OSSCrypto
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

enum BodySource: Sendable {
    case none
    case bytes(ByteBuffer)
    /// A range of an open blob file, sent with a file region; whoever sends it closes it.
    case file(NIOFileHandle, offset: Int64, length: Int64)
}

struct BlobError: Error, CustomStringConvertible {
    let description: String
}

/// Receives a blob's bytes as they arrive.
protocol BlobWriter: AnyObject {
    var id: String { get }
    func write(_ bytes: UnsafeRawBufferPointer) throws
    /// Makes the bytes durable (fsync) and closes.
    func finish() throws
    /// Drops what was written.
    func abandon()
}

protocol BlobStore: Sendable {
    /// A writer for a new blob.
    func create() throws -> BlobWriter
    /// A writer that continues blob `id` at `offset` (anything past it is dropped).
    func extend(_ id: String, at offset: Int64) throws -> BlobWriter
    /// The bytes to send; a file is opened now, so a later delete of the blob does not
    /// cut a response that is under way.
    func read(_ id: String, offset: Int64, length: Int64) throws -> BodySource
    func delete(_ id: String)
    /// A new blob holding `length` bytes of `id` from `offset`.
    func copy(_ id: String, offset: Int64, length: Int64) throws -> String
    /// A new blob made of the given blobs end to end.
    func concatenate(_ ids: [(id: String, length: Int64)]) throws -> String
    /// Writes `length` bytes of blob `source` into blob `target` at `offset` and makes them durable.
    func append(to target: String, at offset: Int64, from source: String, length: Int64) throws
    /// Every blob id present (to find orphans after a crash).
    func allIds() -> [String]
}

func newBlobId() -> String { UUID().uuidString.lowercased() }

// MARK: - memory

final class MemoryBlobStore: BlobStore {
    let blobs = Mutex<[String: ByteBuffer]>([:])

    final class Writer: BlobWriter {
        let id: String
        let store: MemoryBlobStore
        var buffer: ByteBuffer
        init(id: String, store: MemoryBlobStore, initial: ByteBuffer) {
            self.id = id
            self.store = store
            buffer = initial
        }
        func write(_ bytes: UnsafeRawBufferPointer) throws { buffer.writeBytes(bytes) }
        func finish() throws {
            let b = buffer
            store.blobs.withLock { $0[id] = b }
        }
        func abandon() {}
    }

    func create() throws -> BlobWriter {
        Writer(id: newBlobId(), store: self, initial: ByteBufferAllocator().buffer(capacity: 0))
    }

    func extend(_ id: String, at offset: Int64) throws -> BlobWriter {
        guard var b = blobs.withLock({ $0[id] }) else { throw BlobError(description: "no blob \(id)") }
        b.moveWriterIndex(to: Int(offset))
        return Writer(id: id, store: self, initial: b)
    }

    func read(_ id: String, offset: Int64, length: Int64) throws -> BodySource {
        guard let b = blobs.withLock({ $0[id] }), let slice = b.getSlice(at: Int(offset), length: Int(length)) else {
            throw BlobError(description: "no range \(offset)+\(length) in blob \(id)")
        }
        return .bytes(slice)
    }

    func delete(_ id: String) { _ = blobs.withLock { $0.removeValue(forKey: id) } }

    func copy(_ id: String, offset: Int64, length: Int64) throws -> String {
        guard case .bytes(let slice) = try read(id, offset: offset, length: length) else {
            throw BlobError(description: "no range \(offset)+\(length) in blob \(id)")
        }
        let new = newBlobId()
        blobs.withLock { $0[new] = slice }
        return new
    }

    func concatenate(_ ids: [(id: String, length: Int64)]) throws -> String {
        var out = ByteBufferAllocator().buffer(capacity: Int(ids.reduce(0) { $0 + $1.length }))
        for part in ids {
            guard case .bytes(var slice) = try read(part.id, offset: 0, length: part.length) else {
                throw BlobError(description: "no blob \(part.id)")
            }
            out.writeBuffer(&slice)
        }
        let new = newBlobId()
        blobs.withLock { $0[new] = out }
        return new
    }

    func append(to target: String, at offset: Int64, from source: String, length: Int64) throws {
        guard case .bytes(let add) = try read(source, offset: 0, length: length) else { return }
        let w = try extend(target, at: offset)
        try add.withUnsafeReadableBytes { try w.write($0) }
        try w.finish()
    }

    func allIds() -> [String] { blobs.withLock { Array($0.keys) } }
}

// MARK: - disk

final class DiskBlobStore: BlobStore {
    let directory: String

    init(directory: String) throws {
        self.directory = directory
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    func path(_ id: String) -> String { directory + "/" + id }

    final class Writer: BlobWriter {
        let id: String
        let fd: Int32
        let path: String
        var offset: Int64
        var closed = false
        init(id: String, path: String, fd: Int32, offset: Int64) {
            self.id = id
            self.path = path
            self.fd = fd
            self.offset = offset
        }
        func write(_ bytes: UnsafeRawBufferPointer) throws {
            var done = 0
            while done < bytes.count {
                // Safety: the pointer range [done, count) lies inside `bytes`.
                let n = pwrite(fd, bytes.baseAddress! + done, bytes.count - done, off_t(offset))
                if n < 0 {
                    if errno == EINTR { continue }
                    throw BlobError(description: "write \(path): \(String(cString: strerror(errno)))")
                }
                done += n
                offset += Int64(n)
            }
        }
        func finish() throws {
            defer { abandon() }
            guard ftruncate(fd, off_t(offset)) == 0, fsync(fd) == 0 else {
                throw BlobError(description: "fsync \(path): \(String(cString: strerror(errno)))")
            }
        }
        func abandon() {
            if !closed { close(fd) }
            closed = true
        }
    }

    func create() throws -> BlobWriter {
        let id = newBlobId()
        let fd = open(path(id), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw BlobError(description: "create \(path(id)): \(String(cString: strerror(errno)))") }
        return Writer(id: id, path: path(id), fd: fd, offset: 0)
    }

    func extend(_ id: String, at offset: Int64) throws -> BlobWriter {
        let fd = open(path(id), O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { throw BlobError(description: "open \(path(id)): \(String(cString: strerror(errno)))") }
        return Writer(id: id, path: path(id), fd: fd, offset: offset)
    }

    func read(_ id: String, offset: Int64, length: Int64) throws -> BodySource {
        guard length > 0 else { return .none }
        let fd = open(path(id), O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw BlobError(description: "open \(path(id)): \(String(cString: strerror(errno)))") }
        return .file(NIOFileHandle(_deprecatedTakingOwnershipOfDescriptor: fd), offset: offset, length: length)
    }

    func delete(_ id: String) { unlink(path(id)) }

    func copy(_ id: String, offset: Int64, length: Int64) throws -> String {
        try concatenate([(id, length)], firstOffset: offset)
    }

    func concatenate(_ ids: [(id: String, length: Int64)]) throws -> String { try concatenate(ids, firstOffset: 0) }

    func append(to target: String, at offset: Int64, from source: String, length: Int64) throws {
        let writer = try extend(target, at: offset) as! Writer
        defer { writer.abandon() }
        try copyBytes(from: source, offset: 0, length: length, into: writer)
        try writer.finish()
    }

    /// Copies with sendfile(2), file to file inside the kernel (no user-space buffer).
    private func copyBytes(from id: String, offset: Int64, length: Int64, into writer: Writer) throws {
        let src = open(path(id), O_RDONLY | O_CLOEXEC)
        guard src >= 0 else { throw BlobError(description: "open \(path(id)): \(String(cString: strerror(errno)))") }
        defer { close(src) }
        var inOffset = off_t(offset)
        var remaining = length
        guard lseek(writer.fd, off_t(writer.offset), SEEK_SET) >= 0 else { throw BlobError(description: "seek") }
        while remaining > 0 {
            let n = sendfile(writer.fd, src, &inOffset, Int(min(remaining, 1 << 30)))
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw BlobError(description: "copy \(path(id)): short source") }
            remaining -= Int64(n)
            writer.offset += Int64(n)
        }
    }

    private func concatenate(_ ids: [(id: String, length: Int64)], firstOffset: Int64) throws -> String {
        let writer = try create() as! Writer
        do {
            for (i, part) in ids.enumerated() {
                try copyBytes(from: part.id, offset: i == 0 ? firstOffset : 0, length: part.length, into: writer)
            }
            try writer.finish()
            return writer.id
        } catch {
            writer.abandon()
            delete(writer.id)
            throw error
        }
    }

    func allIds() -> [String] { (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] }
}
