// Blobs on disk, under `data/`. A blob is either a file `data/<id>`, or, when it
// is made of other blobs (CompleteMultipartUpload, a copy of such an object), a
// directory `data/<id>/` of segment files `0`, `1`, ... read end to end. A
// segment that is a whole blob that never changes (a part; a segment of another
// composite) is a hard link to it, so Complete costs a few links instead of
// copying every byte again (that copy was a third of osslocal's CPU while
// ossmount wrote 1 GiB, and the client waited for it at close, as it does not
// on OSS). Pieces of blobs are copied with sendfile. Every file is fsynced, and
// a directory is built as `<id>.tmp` and renamed, before any record names it; a
// leftover is an orphan removed at the next start.
import Foundation
import NIOCore
#if canImport(Glibc)
import Glibc
#endif

final class DiskBlobStore: BlobStore {
    let directory: String

    init(directory: String) throws {
        self.directory = directory
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    func path(_ id: String) -> String { directory + "/" + id }

    private static func failure(_ what: String, _ path: String) -> BlobError {
        BlobError(description: "\(what) \(path): \(String(cString: strerror(errno)))")
    }

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
                    throw DiskBlobStore.failure("write", path)
                }
                done += n
                offset += Int64(n)
            }
        }
        func finish() throws {
            defer { abandon() }
            guard ftruncate(fd, off_t(offset)) == 0, fsync(fd) == 0 else { throw DiskBlobStore.failure("fsync", path) }
        }
        func abandon() {
            if !closed { close(fd) }
            closed = true
        }
    }

    private func writer(at path: String, id: String) throws -> Writer {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw Self.failure("create", path) }
        return Writer(id: id, path: path, fd: fd, offset: 0)
    }

    func create() throws -> BlobWriter {
        let id = newBlobId()
        return try writer(at: path(id), id: id)
    }

    func extend(_ id: String, at offset: Int64) throws -> BlobWriter {
        let fd = open(path(id), O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { throw Self.failure("open", path(id)) }
        return Writer(id: id, path: path(id), fd: fd, offset: offset)
    }

    // MARK: pieces

    /// A range of one file on disk; `fixed` when the file never changes (it may be linked).
    struct Piece {
        var path: String
        var offset: Int64
        var length: Int64
        var fileSize: Int64
        var fixed: Bool
        var whole: Bool { offset == 0 && length == fileSize }
    }

    private static func size(_ path: String) throws -> (size: Int64, isDirectory: Bool) {
        var st = stat()
        guard stat(path, &st) == 0 else { throw failure("stat", path) }
        return (Int64(st.st_size), st.st_mode & S_IFMT == S_IFDIR)
    }

    /// The files holding `length` bytes of blob `id` from `offset`, in order. A plain blob's
    /// file is `fixed` only when the caller knows it (parts); a composite's segments are.
    private func pieces(_ id: String, offset: Int64, length: Int64, fixed: Bool) throws -> [Piece] {
        let (size, isDirectory) = try Self.size(path(id))
        var files: [(path: String, size: Int64)] = [(path(id), size)]
        if isDirectory {
            let names = try FileManager.default.contentsOfDirectory(atPath: path(id)).compactMap(Int.init).sorted()
            files = try names.map { n in
                let p = path(id) + "/\(n)"
                return (p, try Self.size(p).size)
            }
        }
        guard let ranges = segmentRanges(files.map(\.size), offset: offset, length: length) else {
            throw BlobError(description: "blob \(id) is shorter than \(offset + length) bytes")
        }
        return ranges.map { r in
            Piece(path: files[r.index].path, offset: r.offset, length: r.length, fileSize: files[r.index].size,
                  fixed: fixed || isDirectory)
        }
    }

    func read(_ id: String, offset: Int64, length: Int64) throws -> BodySource {
        guard length > 0 else { return .none }
        var ranges: [FileRange] = []
        do {
            for p in try pieces(id, offset: offset, length: length, fixed: false) {
                let fd = open(p.path, O_RDONLY | O_CLOEXEC)
                guard fd >= 0 else { throw Self.failure("open", p.path) }
                ranges.append(FileRange(handle: NIOFileHandle(_deprecatedTakingOwnershipOfDescriptor: fd), offset: p.offset,
                                        length: p.length))
            }
        } catch {
            for r in ranges { try? r.handle.close() }
            throw error
        }
        return .files(ranges)
    }

    func delete(_ id: String) {
        if unlink(path(id)) != 0 && (errno == EISDIR || errno == EPERM) { try? FileManager.default.removeItem(atPath: path(id)) }
    }

    func copy(_ id: String, offset: Int64, length: Int64) throws -> String {
        try build(try pieces(id, offset: offset, length: length, fixed: false))
    }

    func concatenate(_ ids: [(id: String, length: Int64)]) throws -> String {
        try build(try ids.flatMap { try pieces($0.id, offset: 0, length: $0.length, fixed: true) })
    }

    func append(to target: String, at offset: Int64, from source: String, length: Int64) throws {
        let writer = try extend(target, at: offset) as! Writer
        defer { writer.abandon() }
        for p in try pieces(source, offset: 0, length: length, fixed: false) { try copyBytes(p, into: writer) }
        try writer.finish()
    }

    /// Copies with sendfile(2), file to file inside the kernel (no user-space buffer).
    private func copyBytes(_ piece: Piece, into writer: Writer) throws {
        let src = open(piece.path, O_RDONLY | O_CLOEXEC)
        guard src >= 0 else { throw Self.failure("open", piece.path) }
        defer { close(src) }
        var inOffset = off_t(piece.offset)
        var remaining = piece.length
        guard lseek(writer.fd, off_t(writer.offset), SEEK_SET) >= 0 else { throw Self.failure("seek", writer.path) }
        while remaining > 0 {
            let n = sendfile(writer.fd, src, &inOffset, Int(min(remaining, 1 << 30)))
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw BlobError(description: "copy \(piece.path): short source") }
            remaining -= Int64(n)
            writer.offset += Int64(n)
        }
    }

    /// Writes `piece` as the file at `path`: a hard link when it is a whole file that never
    /// changes, else a copy (fsynced).
    private func place(_ piece: Piece, at path: String) throws {
        if piece.fixed && piece.whole {
            guard link(piece.path, path) == 0 else { throw Self.failure("link", path) }
            return
        }
        let writer = try writer(at: path, id: "")
        defer { writer.abandon() }
        try copyBytes(piece, into: writer)
        try writer.finish()
    }

    /// A new blob holding `pieces` end to end: a file for one piece, else a directory.
    private func build(_ pieces: [Piece]) throws -> String {
        let id = newBlobId()
        if pieces.count <= 1 {
            do {
                if let piece = pieces.first { try place(piece, at: path(id)) } else { try writer(at: path(id), id: id).finish() }
            } catch {
                delete(id)
                throw error
            }
            return id
        }
        let tmp = path(id) + ".tmp"
        do {
            guard mkdir(tmp, 0o700) == 0 else { throw Self.failure("mkdir", tmp) }
            for (i, piece) in pieces.enumerated() { try place(piece, at: tmp + "/\(i)") }
            Self.syncDirectory(tmp)
            guard rename(tmp, path(id)) == 0 else { throw Self.failure("rename", tmp) }
            Self.syncDirectory(directory)
        } catch {
            try? FileManager.default.removeItem(atPath: tmp)
            throw error
        }
        return id
    }

    private static func syncDirectory(_ path: String) {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd >= 0 {
            fsync(fd)
            close(fd)
        }
    }

    func allIds() -> [String] { (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] }
}
