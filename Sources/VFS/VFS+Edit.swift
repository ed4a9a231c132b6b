// Edits of existing objects. The first change of an object opened without
// O_TRUNC picks where its bytes go: a write at the end continues the object
// (AppendObject for an Appendable one; for Normal and Multipart objects a
// multipart upload whose first parts are the object's own bytes, copied
// server-side); anything else, and a later write that seeks back, moves the
// handle to a staging file holding the whole file.
import ObjectStore

extension VFS {
    func beginEdit(_ w: WriteHandle, at offset: UInt64) async throws(VFSError) {
        let info = try await editedObject(w)
        if offset == info.size && info.type == .appendable {
            let a = newAppend(key: w.key, existing: info, mode: (try? inode(w.ino))?.attributes.mode ?? config.fileMode,
                              ino: w.ino)
            w.target.withLock { $0 = .append(a) }
        } else if offset == info.size && info.type != .symlink {
            do { try await w.upload.continueObject(info) } catch { throw VFSError(error) }
            w.target.withLock { $0 = .stream }
        } else {
            _ = try await staged(w)
        }
    }

    /// The object a handle edits, as long as it is the one seen at open (else ESTALE);
    /// its content type and metadata are kept when it is rewritten.
    func editedObject(_ w: WriteHandle) async throws(VFSError) -> ObjectInfo {
        let info: ObjectInfo
        do { info = try await client.headObject(w.key, ifMatch: w.existing?.etag) } catch { throw VFSError(error) }
        w.preserved.withLock { $0 = WriteOptions(contentType: info.contentType, userMetadata: info.userMetadata) }
        return info
    }

    /// The handle's staging file, made at the first need: a copy of the object being
    /// edited, plus whatever the handle wrote that is not in the object yet.
    func staged(_ w: WriteHandle) async throws(VFSError) -> StagingFile {
        switch w.current {
        case .staging(let file):
            return file
        case .failed(let e):
            throw e
        case nil:
            let info = try await editedObject(w)
            let file = try newStagingFile()
            try await file.fill(from: client, key: w.key, etag: info.etag, size: info.size, chunk: config.prefetchChunkSize)
            file.markClean()
            w.target.withLock { $0 = .staging(file) }
            return file
        case .append(let a):
            let (length, etag, pending): (UInt64, ETag?, [UInt8])
            do { (length, etag, pending) = try await a.retire() } catch { throw VFSError(error) }
            return try await stage(w, onOSS: length, etag: etag, then: pending)
        case .stream:
            let taken: (offset: UInt64, bytes: [UInt8])?
            do { taken = try await w.upload.takeBuffered() } catch { throw VFSError(error) }
            // Parts of new bytes went out: they exist only inside the multipart upload.
            guard let taken else { throw .notSupported }
            return try await stage(w, onOSS: taken.offset, etag: (try? inode(w.ino))?.etag, then: taken.bytes)
        }
    }

    /// Moves the handle to a staging file holding the object's first `length` bytes
    /// (pinned to `etag`) followed by `bytes`, which are nowhere else: if the copy fails
    /// the handle is left failed, so close reports it.
    private func stage(_ w: WriteHandle, onOSS length: UInt64, etag: ETag?, then bytes: [UInt8]) async throws(VFSError)
        -> StagingFile
    {
        do {
            let file = try newStagingFile()
            try file.write(offset: length, bytes: bytes)
            if length > 0 {
                try await file.fill(from: client, key: w.key, etag: etag, size: length, chunk: config.prefetchChunkSize)
            }
            if bytes.isEmpty { file.markClean() }
            w.target.withLock { $0 = .staging(file) }
            return file
        } catch {
            w.target.withLock { $0 = .failed(error) }
            throw error
        }
    }

    func newStagingFile() throws(VFSError) -> StagingFile {
        try StagingFile(directory: config.stagingDirectory, budget: stagingBudget)
    }
}
