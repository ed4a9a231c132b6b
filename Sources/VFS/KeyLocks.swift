// Per-key ordering: every change of one object key (an upload at close, a
// metadata copy, a truncate, an unlink, a rename, a symlink, a mkdir) runs under
// that key's lock, one at a time, in the order they asked. So a close that
// stores a file and a chmod, an unlink or a rename that follows it are applied
// to OSS in that order, and no late request undoes a later one.
//
// Lock order, so nothing waits in a cycle: a write handle's gate first, then key
// locks, several at once only through `with(_:)`, which takes them sorted. Nobody
// takes a handle's gate while holding a key lock.
import ObjectStore
import Synchronization

final class KeyLocks: Sendable {
    private struct Entry {
        var busy = false
        var waiters: [CheckedContinuation<Void, Never>] = []
    }
    private let state = Mutex<[ByteKey: Entry]>([:])

    /// Runs `body` holding the locks of `keys` (deduplicated, taken in byte order).
    func with<T: Sendable>(_ keys: [String], _ body: () async throws(VFSError) -> T) async throws(VFSError) -> T {
        let ordered = Set(keys.map(ByteKey.init)).sorted { $0.string.bytePrecedes($1.string) }
        for key in ordered { await acquire(key) }
        defer { for key in ordered.reversed() { release(key) } }
        return try await body()
    }

    func with<T: Sendable>(_ key: String, _ body: () async throws(VFSError) -> T) async throws(VFSError) -> T {
        try await with([key], body)
    }

    /// Keys locked or waited for now (entries go when idle).
    var count: Int { state.withLock { $0.count } }

    private func acquire(_ key: ByteKey) async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let go = state.withLock { s -> Bool in
                if s[key, default: Entry()].busy {
                    s[key]!.waiters.append(c)
                    return false
                }
                s[key] = Entry(busy: true)
                return true
            }
            if go { c.resume() }
        }
    }

    private func release(_ key: ByteKey) {
        let next = state.withLock { s -> CheckedContinuation<Void, Never>? in
            guard var e = s[key] else { return nil }
            if e.waiters.isEmpty {
                s[key] = nil
                return nil
            }
            let c = e.waiters.removeFirst()
            s[key] = e
            return c
        }
        next?.resume()
    }
}
