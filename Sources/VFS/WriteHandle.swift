// One file open for writing: its whole write life is one `Phase` (with the
// payload of that phase) in one Mutex, and its operations (write, read back,
// truncate, close, rename of its name) run one at a time under its gate.
//
//   new file / O_TRUNC ──► streaming ──(seek back, truncate)──► staged
//   existing object ──► undecided ──(write at end)──► streaming | appending
//                                 └─(other change)──► staged
//   any ──(unlink of its name)──► discarded      any ──(copy failed)──► failed
//   O_TRUNC open of a file whose name went meanwhile ──► discarded
//
// The object on OSS changes only at close (flush/fsync), under the key's lock
// (KeyLocks), so the stores of one key are ordered with every other change of
// that key. A close stores everything the handle holds, a new file that was
// never written included: nothing is left for release, which the kernel sends
// after close(2) has returned.
import ObjectStore
import Synchronization

final class WriteHandle: Sendable {
    enum Phase: Sendable {
        /// An existing object opened without O_TRUNC, not changed yet: its first change
        /// decides (VFS.beginEdit). Nothing is stored at close.
        case undecided(etag: ETag?, size: UInt64)
        /// Written front to back: a PutObject at close, or a multipart upload.
        case streaming(SequentialUpload)
        /// AppendObject to an Appendable object.
        case appending(AppendUpload)
        /// A local copy of the whole file, uploaded at close.
        case staged(StagingFile)
        /// Its name was unlinked while open: writes are taken and dropped at close.
        case discarded(size: UInt64)
        /// A switch to a staging file failed after bytes had left: only this is reported.
        case failed(VFSError)
    }

    struct State: Sendable {
        /// The object key; a rename of the open file changes it.
        var key: String
        var phase: Phase
        /// Content type and user metadata of the edited object, kept when it is rewritten.
        var preserved: WriteOptions?
        /// An object exists on OSS for this handle (the one edited, or one stored by a close).
        var stored: Bool
        /// Mode, owner or mtime changed (setattr) while nothing was stored yet: a multipart
        /// upload begun before then carries the old values, so close stores them again.
        var metadataPending = false
        /// The name was unlinked: never store.
        var unlinked = false
        /// Bytes were written since the last close began (release stores them: writes of
        /// mmap'ed pages can come after the last close). A close that failed is final.
        var writtenSinceClose = false
    }

    let ino: InodeNumber
    /// One write, read, truncate, close or rename of this handle at a time.
    let gate = AsyncGate()
    let state: Mutex<State>

    init(ino: InodeNumber, key: String, phase: Phase) {
        self.ino = ino
        var stored = false
        if case .undecided = phase { stored = true }
        state = Mutex(State(key: key, phase: phase, stored: stored))
    }

    var phase: Phase { state.withLock { $0.phase } }
    var key: String { state.withLock { $0.key } }

    func set(_ phase: Phase) { state.withLock { $0.phase = phase } }

    /// The file's size as this handle has it.
    var size: UInt64 {
        switch phase {
        case .undecided(_, let size), .discarded(let size): size
        case .failed: 0
        case .streaming(let u): u.size
        case .appending(let a): a.size
        case .staged(let f): f.size
        }
    }

    /// Holds a local copy a reader can read (see VFS.open).
    var stagingFile: StagingFile? {
        if case .staged(let f) = phase { return f }
        return nil
    }
}
