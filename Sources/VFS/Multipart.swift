// One way to write a whole object in parts, for everything that uploads an object
// whose bytes it already has (a staging file, an Appendable object rewritten, a
// large object copied part by part): initiate, upload the parts, complete with
// them in order, and abort on any failure, so a failed upload never leaves an
// object. (A file streamed as it is being written keeps its own incremental form
// in SequentialUpload: its parts are not known in advance.)
import ObjectStore

enum Multipart {
    /// OSS's bounds: part numbers 1-10,000, a part at most 5 GiB, so an object of at most
    /// 10,000 x 5 GiB (48.8 TiB).
    static let maxParts: UInt64 = 10_000
    static let maxPartSize: UInt64 = 5 << 30
    static let maxObjectSize = maxParts * maxPartSize

    /// The part size that cuts `size` bytes into at most 10,000 parts: `base`, or for an
    /// object that `base` would cut into more (over 78 GiB with 8 MiB parts), the smallest
    /// multiple of 1 MiB that does. Throws `tooLarge` past OSS's largest object, before
    /// anything is uploaded.
    static func partSize(for size: UInt64, atLeast base: UInt64) throws(VFSError) -> UInt64 {
        guard size <= maxObjectSize else { throw .tooLarge }
        let mebibyte: UInt64 = 1 << 20
        let needed = (size + maxParts - 1) / maxParts
        return max(base, (needed + mebibyte - 1) / mebibyte * mebibyte)
    }

    /// Uploads `key` with the parts `parts(uploadId)` uploads (returned in any order).
    static func upload(_ client: ObjectClient, key: String, options: WriteOptions,
                       parts: (String) async throws -> [PartInfo]) async throws -> WriteResult {
        let id = try await client.initiateMultipartUpload(key, options: options)
        do {
            let uploaded = try await parts(id)
            return try await client.completeMultipartUpload(key, uploadId: id,
                                                            parts: uploaded.sorted { $0.number < $1.number })
        } catch {
            try? await client.abortMultipartUpload(key, uploadId: id)
            throw error
        }
    }

    /// `size` bytes cut into ranges of `partSize` (the last one shorter).
    static func ranges(_ size: UInt64, partSize: UInt64) -> [ByteRange] {
        stride(from: UInt64(0), to: size, by: Int(partSize)).map { ByteRange($0, min(size, $0 + partSize)) }
    }

    /// Uploads `key` from `size` bytes that `read` gives a part at a time, in order, in
    /// parts of `partSize` (larger when 10,000 of them would not hold `size`).
    static func upload(_ client: ObjectClient, key: String, options: WriteOptions, size: UInt64, partSize: Int,
                       read: (ByteRange) async throws -> [UInt8]) async throws -> WriteResult {
        let part = try Self.partSize(for: size, atLeast: UInt64(partSize))
        return try await upload(client, key: key, options: options) { id in
            var parts: [PartInfo] = []
            for range in ranges(size, partSize: part) {
                let bytes = try await read(range)
                parts.append(try await client.uploadPart(key, uploadId: id, partNumber: parts.count + 1,
                                                         body: UploadBody(bytes)))
            }
            return parts
        }
    }
}
