// Object bytes, apart from object metadata. A blob is written once (PUT, part,
// copy, Complete) and then only read, except an Appendable object's blob, which
// grows at its end. On disk (DiskBlobStore.swift) a blob is a file, or a directory
// of segments for a completed multipart upload; in memory it is a ByteBuffer.
// Readers get file ranges (sent with sendfile) or a buffer slice: never a copy.
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
    /// Ranges of open files, in order, sent with file regions; whoever sends them closes them.
    case files([FileRange])
}

struct FileRange: Sendable {
    let handle: NIOFileHandle
    let offset: Int64
    let length: Int64

    /// The first `count` bytes of `ranges` (an injected truncation); the handles past them are closed.
    static func prefix(_ ranges: [FileRange], _ count: Int64) -> [FileRange] {
        var left = count
        var kept: [FileRange] = []
        for r in ranges {
            if left > 0 {
                kept.append(FileRange(handle: r.handle, offset: r.offset, length: min(r.length, left)))
                left -= min(r.length, left)
            } else {
                try? r.handle.close()
            }
        }
        return kept
    }
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
    /// A new blob made of the given blobs end to end (they are not changed later: parts).
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
