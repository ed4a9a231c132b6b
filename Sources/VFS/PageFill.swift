// Random reads answered by the kernel: a jump fetches the aligned block around it
// (`random_fill`), answers the read from it, and offers the rest of the block to the
// kernel's page cache, so the next reads near it need no request at all. The pages
// stored belong to the ETag the reader is pinned to; they are stored only while the
// kernel's cache of the file is still of that object and nobody writes it here, and
// taken back when that changed while they were being stored.
import ObjectStore

/// The kernel's page cache as the VFS may fill it (FuseKit's FUSE_NOTIFY_STORE).
public protocol KernelPageCache: Sendable {
    /// Offers `data` as `ino`'s bytes at `offset`: stored later, while `valid()` holds.
    func offer(_ ino: InodeNumber, offset: UInt64, _ data: ReadData, valid: @escaping @Sendable () -> Bool)
    /// Drops every page of `ino` the kernel holds, then calls `done` (from a thread of its
    /// own: dropping waits for pages being read, so it must not run where reads are answered).
    func invalidate(_ ino: InodeNumber, then done: @escaping @Sendable () -> Void)
}

/// One open file's way to the kernel's page cache.
struct PageFill: Sendable {
    /// The block a jump fetches.
    let size: UInt64
    let offer: @Sendable (_ offset: UInt64, _ data: ReadData) -> Void

    static let pageSize: UInt64 = 4096

    /// Offers the block at `start` in `box`, but for the pages of the read it answered
    /// (`read`): the kernel is filling those from the reply.
    func offer(_ box: ByteBox, at start: UInt64, except read: Range<UInt64>) {
        offer(box.pointer, owner: box, at: start, except: read)
    }

    /// The same for `bytes` that `owner` keeps alive (a chunk's memory).
    func offer(_ bytes: UnsafeRawBufferPointer, owner: AnyObject, at start: UInt64, except read: Range<UInt64>) {
        let end = start + UInt64(bytes.count)
        let before = start..<max(start, read.lowerBound / Self.pageSize * Self.pageSize)
        let after = min(end, (read.upperBound + Self.pageSize - 1) / Self.pageSize * Self.pageSize)..<end
        for part in [before, after] where !part.isEmpty {
            let piece = UnsafeRawBufferPointer(rebasing: bytes[Int(part.lowerBound - start)..<Int(part.upperBound - start)])
            offer(part.lowerBound, ReadData(pieces: [piece], owners: [owner]))
        }
    }
}

extension VFS {
    /// How readers of `node` fill the page cache; nil when they do not (filling off, a
    /// file written here, no ETag to pin the pages to).
    func pageFill(_ node: Inode, local: WriteHandle?) -> PageFill? {
        guard config.randomFill > 0, local == nil, let cache = config.kernelPageCache, let etag = node.etag else { return nil }
        let ino = node.ino
        return PageFill(size: UInt64(config.randomFill)) { [weak self] offset, data in
            cache.offer(ino, offset: offset, data) { [weak self] in self?.pageCacheHolds(ino, etag) ?? false }
        }
    }

    /// Whether the kernel's pages of `ino` are of the object `etag` and may stay so: the
    /// file is still that object, bound to its name, the kernel was told its pages are
    /// of it, and nobody here writes it.
    func pageCacheHolds(_ ino: InodeNumber, _ etag: ETag) -> Bool {
        state.withLock { s in
            guard let node = s.table[ino], node.etag == etag, node.kernelPages == .of(etag),
                  s.table.ino(forKey: node.key) == ino else { return false }
            return !s.writes(ino)
        }
    }
}
