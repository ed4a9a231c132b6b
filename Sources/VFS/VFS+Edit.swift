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
        let mode = (try? inode(w.ino))?.attributes.mode ?? config.fileMode
        if offset == info.size && info.type == .appendable {
            w.set(.appending(newAppend(key: w.key, existing: info, mode: mode, ino: w.ino)))
        } else if offset == info.size && info.type != .symlink {
            let upload = newUpload(key: w.key, mode: mode, ino: w.ino)
            do { try await upload.continueObject(info) } catch { throw VFSError(error) }
            w.set(.streaming(upload))
        } else {
            _ = try await staged(w)
        }
    }

    /// The object a handle edits, as long as it is the one seen at open (else ESTALE);
    /// its content type and metadata are kept when it is rewritten.
    func editedObject(_ w: WriteHandle) async throws(VFSError) -> ObjectInfo {
        guard case .undecided(let etag, _) = w.phase else { throw .io("edit of a decided handle") }
        let info: ObjectInfo
        do {
            info = try await client.headObject(w.key, ifMatch: etag)
        } catch {
            // Replaced or removed since the open (a link now, or gone): the file this handle
            // opened is not there to edit.
            let e = VFSError(error)
            throw e == .notFound ? .stale : e
        }
        w.state.withLock { $0.preserved = WriteOptions(contentType: info.contentType, userMetadata: info.userMetadata) }
        return info
    }

    /// The handle's staging file, made at the first need: a copy of the object being
    /// edited, plus whatever the handle wrote that is not in the object yet.
    func staged(_ w: WriteHandle) async throws(VFSError) -> StagingFile {
        switch w.phase {
        case .staged(let file):
            return file
        case .failed(let e):
            throw e
        case .discarded:
            // Its name was unlinked before anything made a local copy.
            throw .notSupported
        case .undecided:
            let info = try await editedObject(w)
            let file = try newStagingFile()
            try await file.fill(from: client, key: w.key, etag: info.etag, size: info.size, chunk: config.prefetchChunkSize)
            file.markClean()
            w.set(.staged(file))
            return file
        case .appending(let a):
            let (length, etag, pending): (UInt64, ETag?, [UInt8])
            do { (length, etag, pending) = try await a.retire() } catch { throw VFSError(error) }
            return try await stage(w, SequentialUpload.Taken(onOSS: length, spill: nil, offset: length, bytes: pending),
                                   etag: etag)
        case .streaming(let upload):
            let taken: SequentialUpload.Taken?
            do { taken = try await upload.takeBuffered() } catch { throw VFSError(error) }
            // Parts of new bytes went out and no copy of them was kept (seekable_writes off,
            // past seekable_max, or the staging directory was full).
            guard let taken else { throw .notSupported }
            return try await stage(w, taken, etag: (try? inode(w.ino))?.etag)
        }
    }

    /// Moves the handle to a staging file: the spill of uploaded parts (or a new file),
    /// the object's first `onOSS` bytes (pinned to `etag`), and the bytes not sent yet,
    /// which are nowhere else: if the copy fails the handle is left failed, so close
    /// reports it.
    private func stage(_ w: WriteHandle, _ t: SequentialUpload.Taken, etag: ETag?) async throws(VFSError) -> StagingFile {
        do {
            let file: StagingFile
            if let spill = t.spill { file = spill } else { file = try newStagingFile() }
            try await file.write(offset: t.offset, bytes: t.bytes)
            if t.onOSS > 0 {
                try await file.fill(from: client, key: w.key, etag: etag, size: t.onOSS, chunk: config.prefetchChunkSize)
            }
            // Clean only if everything is in the object on OSS already.
            if t.bytes.isEmpty && t.offset == t.onOSS && w.state.withLock({ $0.stored }) { file.markClean() }
            w.set(.staged(file))
            return file
        } catch {
            w.set(.failed(error))
            throw error
        }
    }

    func newStagingFile() throws(VFSError) -> StagingFile {
        try StagingFile(directory: config.stagingDirectory, budget: stagingBudget)
    }
}
