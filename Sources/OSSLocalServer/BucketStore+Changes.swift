// Every change to a bucket goes through these few functions: check, persist the
// record (the commit point on disk), update memory, drop the blob no longer named.
import ObjectStore
import Foundation

extension BucketStore {
    func object(_ key: String) -> ObjectRecord? { state.withLock { $0.objects[ByteKey(key)] } }

    /// Stores `record` under its key after `check` accepted the current record. The
    /// replaced record's blob is deleted unless the new record uses the same blob.
    func commit(_ record: ObjectRecord, check: (ObjectRecord?) throws(OSSError) -> Void = { _ in }) throws(OSSError) {
        let old: ObjectRecord? = try state.withLock { s throws(OSSError) in
            let current = s.objects[ByteKey(record.key)]
            try check(current)
            do { try persist(record) } catch { throw OSSError.internalError("\(error)") }
            s.objects[ByteKey(record.key)] = record
            if current == nil { s.index.insert(record.key) }
            return current
        }
        if let oldBlob = old?.blob, oldBlob != record.blob { blobs.delete(oldBlob) }
    }

    func remove(_ key: String) {
        let old: ObjectRecord? = state.withLock { s in
            guard let current = s.objects.removeValue(forKey: ByteKey(key)) else { return nil }
            unpersist(key: key)
            s.index.remove(key)
            return current
        }
        if let blob = old?.blob { blobs.delete(blob) }
    }

    /// The keys in byte order (merging pending index changes).
    func sortedKeys() -> [String] { state.withLock { $0.index.keys() } }

    func upload(_ id: String, key: String) throws(OSSError) -> UploadRecord {
        guard let u = state.withLock({ $0.uploads[id] }), u.key.bytesEqual(key) else { throw .noSuchUpload() }
        return u
    }

    /// Applies `change` to upload `id` and persists the result.
    func updateUpload(_ id: String, key: String, _ change: (inout UploadRecord) throws(OSSError) -> Void)
        throws(OSSError) -> UploadRecord
    {
        try state.withLock { s throws(OSSError) in
            guard var u = s.uploads[id], u.key.bytesEqual(key) else { throw .noSuchUpload() }
            try change(&u)
            do { try persist(u) } catch { throw OSSError.internalError("\(error)") }
            s.uploads[id] = u
            return u
        }
    }

    func addUpload(_ u: UploadRecord) throws(OSSError) {
        try state.withLock { s throws(OSSError) in
            do { try persist(u) } catch { throw OSSError.internalError("\(error)") }
            s.uploads[u.uploadId] = u
        }
    }

    /// Removes the upload record; returns it so its part blobs can be deleted or kept.
    func removeUpload(_ id: String, key: String) throws(OSSError) -> UploadRecord {
        try state.withLock { s throws(OSSError) in
            guard let u = s.uploads[id], u.key.bytesEqual(key) else { throw .noSuchUpload() }
            s.uploads[id] = nil
            unpersist(uploadId: id)
            return u
        }
    }

    func allUploads() -> [UploadRecord] { state.withLock { Array($0.uploads.values) } }
}
