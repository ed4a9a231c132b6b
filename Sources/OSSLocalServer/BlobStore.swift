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
    /// Buffers sent one after another (a blob made of others, in memory).
    case buffers([ByteBuffer])
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

/// Where `length` bytes from `offset` lie in segments of `sizes` laid end to end: each
/// touched segment's index, and the offset and length wanted in it; nil when the
/// segments end first.
func segmentRanges(_ sizes: [Int64], offset: Int64, length: Int64) -> [(index: Int, offset: Int64, length: Int64)]? {
    var out: [(index: Int, offset: Int64, length: Int64)] = []
    var start = offset, left = length, base: Int64 = 0
    for (i, size) in sizes.enumerated() where left > 0 {
        defer { base += size }
        guard start < base + size else { continue }
        let n = min(left, base + size - start)
        out.append((i, start - base, n))
        start += n
        left -= n
    }
    return left == 0 ? out : nil
}

// MARK: - memory

/// Blobs in RAM. A blob is a list of buffers read end to end: a copy or a completed
/// multipart upload shares its sources' storage (ByteBuffer slices) instead of copying.
final class MemoryBlobStore: BlobStore {
    let blobs = Mutex<[String: [ByteBuffer]]>([:])

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
            store.blobs.withLock { $0[id] = [b] }
        }
        func abandon() {}
    }

    func create() throws -> BlobWriter {
        Writer(id: newBlobId(), store: self, initial: ByteBufferAllocator().buffer(capacity: 0))
    }

    func extend(_ id: String, at offset: Int64) throws -> BlobWriter {
        guard let segments = blobs.withLock({ $0[id] }) else { throw BlobError(description: "no blob \(id)") }
        var b = segments.count == 1 ? segments[0] : Self.joined(segments)
        b.moveWriterIndex(to: Int(offset))
        return Writer(id: id, store: self, initial: b)
    }

    private static func joined(_ segments: [ByteBuffer]) -> ByteBuffer {
        var out = ByteBufferAllocator().buffer(capacity: segments.reduce(0) { $0 + $1.readableBytes })
        for var s in segments { out.writeBuffer(&s) }
        return out
    }

    /// Slices of the blob's buffers covering `length` bytes from `offset` (no copy).
    private func slices(_ id: String, offset: Int64, length: Int64) throws -> [ByteBuffer] {
        guard let segments = blobs.withLock({ $0[id] }),
              let ranges = segmentRanges(segments.map { Int64($0.readableBytes) }, offset: offset, length: length)
        else { throw BlobError(description: "no range \(offset)+\(length) in blob \(id)") }
        return ranges.map { r in
            let s = segments[r.index]
            return s.getSlice(at: s.readerIndex + Int(r.offset), length: Int(r.length))!  // inside the segment
        }
    }

    func read(_ id: String, offset: Int64, length: Int64) throws -> BodySource {
        guard length > 0 else { return .none }
        let pieces = try slices(id, offset: offset, length: length)
        return pieces.count == 1 ? .bytes(pieces[0]) : .buffers(pieces)
    }

    func delete(_ id: String) { _ = blobs.withLock { $0.removeValue(forKey: id) } }

    func copy(_ id: String, offset: Int64, length: Int64) throws -> String {
        let pieces = try slices(id, offset: offset, length: length)
        let new = newBlobId()
        blobs.withLock { $0[new] = pieces }
        return new
    }

    func concatenate(_ ids: [(id: String, length: Int64)]) throws -> String {
        let pieces = try ids.flatMap { try slices($0.id, offset: 0, length: $0.length) }
        let new = newBlobId()
        blobs.withLock { $0[new] = pieces }
        return new
    }

    func append(to target: String, at offset: Int64, from source: String, length: Int64) throws {
        let add = try slices(source, offset: 0, length: length)
        let w = try extend(target, at: offset)
        for piece in add { try piece.withUnsafeReadableBytes { try w.write($0) } }
        try w.finish()
    }

    func allIds() -> [String] { blobs.withLock { Array($0.keys) } }
}
