// Arrays that carry a write's bytes out of the kernel's buffer, reused. A fresh
// 1 MiB array is a fresh mmap (large blocks bypass the heap so they go back to the
// system; see CLibc), and zeroing its pages on first touch cost the daemon 39% of
// its CPU while writing (perf, write.sh --tls). A reused array keeps its pages.
// Value semantics keep reuse safe: if the filesystem kept a reference to an array,
// refilling it copies on write instead of changing the bytes that were kept.
import Synchronization

final class WriteBuffers: Sendable {
    private let free = Mutex<[[UInt8]]>([])
    /// At most this many arrays are kept: writes of one file reach the filesystem one at
    /// a time, so a few cover several files written at once; 8 MiB at most.
    let kept: Int

    init(kept: Int = 8) { self.kept = kept }

    /// Arrays waiting for reuse now.
    var waiting: Int { free.withLock { $0.count } }

    /// The bytes of one write; the array goes back to `owner` when the lease ends.
    final class Lease: Sendable {
        let bytes: [UInt8]
        private let owner: WriteBuffers
        fileprivate init(bytes: [UInt8], owner: WriteBuffers) {
            self.bytes = bytes
            self.owner = owner
        }
        deinit { owner.recycle(bytes) }
    }

    /// A lease on an array holding a copy of `bytes`.
    func filled(with bytes: UnsafeRawBufferPointer) -> Lease {
        var array = free.withLock { $0.popLast() } ?? []
        array.removeAll(keepingCapacity: true)
        array.append(contentsOf: bytes)
        return Lease(bytes: array, owner: self)
    }

    private func recycle(_ array: [UInt8]) {
        free.withLock { list in
            if list.count < kept { list.append(array) }
        }
    }
}
