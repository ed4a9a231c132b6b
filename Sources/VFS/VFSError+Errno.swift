// The one place where errno is chosen: from VFS errors, and from what the
// object store said. Documented in docs/SEMANTICS.md ("What each errno means").
import ObjectStore
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

extension VFSError {
    public var errno: Int32 {
        switch self {
        case .notFound: ENOENT
        case .notDirectory: ENOTDIR
        case .isDirectory: EISDIR
        case .stale: ESTALE
        case .accessDenied: EACCES
        case .readOnly: EROFS
        case .invalidArgument: EINVAL
        case .nameTooLong: ENAMETOOLONG
        case .badHandle: EBADF
        case .notEmpty: ENOTEMPTY
        case .exists: EEXIST
        case .noSpace: ENOSPC
        case .noAttribute: ENODATA
        case .notSupported: ENOTSUP
        case .tooLarge: EFBIG
        case .notImplemented: ENOSYS
        case .io: EIO
        }
    }

    /// What an object-store failure means to a file operation.
    public init(_ error: Error) {
        if let e = error as? VFSError {
            self = e
            return
        }
        guard let e = error as? ObjectStoreError else {
            self = .io("\(error)")
            return
        }
        VFS.failure?.record(e)
        switch e.kind {
        case .notFound, .symlinkTargetMissing: self = .notFound
        case .preconditionFailed, .positionMismatch: self = .stale  // changed by someone else
        case .exists: self = .exists
        case .denied: self = .accessDenied
        case .notAppendable, .other: self = .io("\(e)")
        }
    }
}

/// The store's own error behind the errno of a failed request (its code and request id),
/// kept while the request is served so the caller can log the failure once.
public final class FailureRecord: Sendable {
    private let last = Mutex<ObjectStoreError?>(nil)
    public init() {}
    func record(_ e: ObjectStoreError) { last.withLock { $0 = e } }
    public var error: ObjectStoreError? { last.withLock { $0 } }
}

extension VFS {
    /// Where the request being served records the store error behind its errno.
    @TaskLocal public static var failure: FailureRecord?

    /// The object key of an inode the kernel holds (for log lines).
    public func key(of ino: InodeNumber) -> String? { state.withLock { $0.table[ino]?.key } }
}
