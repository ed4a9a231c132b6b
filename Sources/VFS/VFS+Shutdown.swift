// SIGTERM with files open for writing (a sidecar stopped while its job still
// holds a checkpoint open): no new writers from then on, and every open writer's
// bytes are stored as its close would store them, all at once, within the
// shutdown timeout. What could not be stored by then has its upload aborted, so
// no multipart upload is left behind and no truncated object appears; the
// caller names those files and exits non-zero. The FUSE loop keeps serving
// meanwhile, so a job that closes its files in time closes them normally.
import ObjectStore
import Synchronization

public struct ShutdownReport: Sendable {
    /// Keys of files open for writing whose bytes are on OSS.
    public var stored: [String] = []
    /// Keys whose bytes could not be stored in time; their uploads were aborted.
    public var lost: [String] = []
}

extension VFS {
    func refuseNewWritersWhenShuttingDown() throws(VFSError) {
        if state.withLock({ $0.shuttingDown }) { throw .readOnly }
    }

    public func shutdown(within timeout: Duration) async -> ShutdownReport {
        let writers = state.withLock { s in
            s.shuttingDown = true
            return s.writers.filter { !$0.value.state.withLock { $0.unlinked } }.map { ($0.key, $0.value) }
        }
        let stored = Shared<Set<UInt64>>([])
        let stores = Task {
            await withTaskGroup(of: Void.self) { group in
                for (handle, _) in writers {
                    group.addTask {
                        do {
                            try await self.flush(handle)
                            stored.value.withLock { _ = $0.insert(handle) }
                        } catch {}  // named below with the others not stored
                    }
                }
            }
        }
        let inTime = await Self.race(stores, against: timeout)
        if !inTime { stores.cancel() }
        var report = ShutdownReport()
        for (handle, w) in writers {
            if stored.value.withLock({ $0.contains(handle) }) {
                report.stored.append(w.key)
            } else {
                report.lost.append(w.key)
                await discard(w)  // aborts its multipart upload
                logger.error("not stored at shutdown; its upload was aborted",
                             metadata: ["key": "\(w.key)", "within": "\(timeout)"])
            }
        }
        await abortLeftovers(of: report.lost)
        return report
    }

    /// An upload whose Initiate was still in flight when it was given up has an id the
    /// handle never learned: the uploads of those keys begun since the mount started are
    /// listed and aborted too (a few more requests after the timeout).
    func abortLeftovers(of keys: [String]) async {
        let since = Timestamp(seconds: mountTime.seconds - 1)
        for key in Set(keys) {
            guard let page = try? await client.listMultipartUploads(prefix: key, keyMarker: nil, uploadIdMarker: nil,
                                                                    maxUploads: 1000)
            else { continue }
            for u in page.uploads where u.key.bytesEqual(key) && (u.initiated ?? since) >= since {
                try? await client.abortMultipartUpload(key, uploadId: u.uploadId)
            }
        }
    }

    /// True when `task` ends before `timeout` passes (it is not waited for past that).
    static func race(_ task: Task<Void, Never>, against timeout: Duration) async -> Bool {
        await withCheckedContinuation { (c: CheckedContinuation<Bool, Never>) in
            let answered = Shared(false)
            let answer: @Sendable (Bool) -> Void = { value in
                if answered.value.withLock({ a in defer { a = true }; return !a }) { c.resume(returning: value) }
            }
            Task { await task.value; answer(true) }
            Task {
                try? await Task.sleep(for: timeout)
                answer(false)
            }
        }
    }
}

/// A Mutex that closures running at once can share.
final class Shared<Value: Sendable>: Sendable {
    let value: Mutex<Value>
    init(_ initial: Value) { value = Mutex(initial) }
}
