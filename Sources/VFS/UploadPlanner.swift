// The uploader's decisions for one file written front to back, as a plain state
// machine (the async shell is SequentialUpload). Bytes fill a part buffer; a full
// part is uploaded while the next fills (a multipart upload starts with the first
// full part); at close a file that never filled a part is one PutObject, anything
// larger uploads its last part and completes. A write anywhere but the end is
// "not sequential": the shell then falls back to a staging file.

struct UploadPlanner: Sendable {
    /// Bytes per part: the configured size for parts 1-1000, doubling every 1000 parts
    /// after, so 10,000 parts hold 1023 x 1000 x base (8 TiB with 8 MiB parts) while
    /// small and medium files keep small buffers.
    private(set) var partSize: Int
    let basePartSize: Int
    private(set) var written: UInt64 = 0
    private(set) var buffered = 0
    private(set) var partsStarted = 0

    static let maxParts = Int(Multipart.maxParts)

    init(partSize: Int) {
        self.partSize = partSize
        basePartSize = partSize
    }

    /// Continues a file whose first `written` bytes exist already: `buffered` of them in
    /// the part buffer, the rest as `partsStarted` parts (copied server-side).
    init(partSize: Int, written: UInt64, buffered: Int, partsStarted: Int) {
        self.init(partSize: partSize)
        self.written = written
        self.buffered = buffered
        self.partsStarted = partsStarted
        growIfNeeded()
    }

    enum Action: Equatable, Sendable {
        /// Copy `count` bytes into the part buffer (the first `count` of the write).
        case buffer(count: Int)
        /// The part buffer is full: upload it as part `number` (starting the multipart
        /// upload first when `number == 1`).
        case uploadPart(number: Int)
        /// Not at the end of what was written.
        case notSequential
        /// Bytes past the 10,000th part, which no upload can hold (EFBIG).
        case tooLarge
    }

    /// Plans a write of `count` bytes at `offset`. Each action is applied in order; a write
    /// that spans parts yields buffer/upload pairs.
    mutating func write(offset: UInt64, count: Int) -> [Action] {
        guard offset == written else { return [.notSequential] }
        // Filling the 10,000th part (or past it): the write must fit in what is left of it.
        let room = partsStarted + 1 < Self.maxParts ? Int.max : partsStarted < Self.maxParts ? partSize - buffered : 0
        guard count <= room else { return [.tooLarge] }
        var actions: [Action] = []
        var left = count
        while left > 0 {
            let n = min(left, partSize - buffered)
            actions.append(.buffer(count: n))
            buffered += n
            written += UInt64(n)
            left -= n
            if buffered == partSize {
                partsStarted += 1
                actions.append(.uploadPart(number: partsStarted))
                buffered = 0
                growIfNeeded()
            }
        }
        return actions
    }

    private mutating func growIfNeeded() {
        partSize = min(basePartSize << (partsStarted / 1000), 5 << 30)
    }

    enum Finish: Equatable, Sendable {
        /// Small file: one PutObject of the buffered bytes.
        case putObject
        /// Upload the buffered tail (if any) as part `lastPart`, then complete.
        case complete(lastPart: Int?)
    }

    mutating func finish() -> Finish {
        if partsStarted == 0 { return .putObject }
        guard buffered > 0 else { return .complete(lastPart: nil) }
        partsStarted += 1
        return .complete(lastPart: partsStarted)
    }
}
