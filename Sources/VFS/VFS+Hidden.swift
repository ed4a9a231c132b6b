// Files removed while open for reading. POSIX keeps an unlinked (or renamed-over
// and moved) file readable through descriptors opened before; OSS has no such
// state. So the object stays on OSS, hidden from this mount (lookups, listings
// and removals treat it as gone), until its last reader here closes; then it is
// deleted under the key's lock, unless something newer was stored at the key
// meanwhile. If the daemon dies first, the object is still there at the next
// mount (docs/SEMANTICS.md).
import ObjectStore

extension VFS {
    /// Whether handles open for reading `key` exist.
    func hasReaders(_ key: String) -> Bool {
        state.withLock { s in s.files.values.contains { $0.key.bytesEqual(key) } }
    }

    /// Removes `key` from the mount's view now and from OSS at its last reader's close,
    /// if readers hold it; else deletes it at once. The caller holds the key's lock.
    func removeObjectLocked(_ key: String) async throws(VFSError) {
        if hasReaders(key), let info = try await headIfExists(key) {
            state.withLock { $0.hidden[key] = info.etag }
            return
        }
        do { try await client.deleteObject(key) } catch { throw VFSError(error) }
    }

    /// Whether `key`'s object as `etag` is one removed here and kept for its readers.
    func isHidden(_ key: String, etag: ETag) -> Bool {
        state.withLock { $0.hidden[key] == etag }
    }

    /// Something new was stored at `key`: a removed object kept there for its readers is
    /// replaced, not deleted later.
    func unhide(_ key: String) {
        state.withLock { $0.hidden[key] = nil }
    }

    /// A reader of the removed object at `key` closed: if it was the last one, delete it.
    func readerClosed(_ key: String) {
        guard !hasReaders(key) else { return }
        Task { [self] in
            do {
                try await keyLocks.with(key) { () async throws(VFSError) in
                    guard state.withLock({ $0.hidden[key] != nil }), !hasReaders(key) else { return }
                    do { try await client.deleteObject(key) } catch { throw VFSError(error) }
                    unhide(key)
                }
            } catch {
                logger.error("delete of a removed file at its last close failed", metadata: ["key": "\(key)", "error": "\(error)"])
            }
        }
    }
}
