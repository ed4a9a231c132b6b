// One way to write a whole object in parts, for everything that uploads an object
// whose bytes it already has (a staging file, an Appendable object rewritten, a
// large object copied part by part): initiate, upload the parts, complete with
// them in order, and abort on any failure, so a failed upload never leaves an
// object. (A file streamed as it is being written keeps its own incremental form
// in SequentialUpload: its parts are not known in advance.)
import ObjectStore

enum Multipart {
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

    /// Uploads `key` from `size` bytes that `read` gives a part at a time, in order.
    static func upload(_ client: ObjectClient, key: String, options: WriteOptions, size: UInt64, partSize: Int,
                       read: (ByteRange) async throws -> [UInt8]) async throws -> WriteResult {
        try await upload(client, key: key, options: options) { id in
            var parts: [PartInfo] = []
            for range in ranges(size, partSize: UInt64(partSize)) {
                let bytes = try await read(range)
                parts.append(try await client.uploadPart(key, uploadId: id, partNumber: parts.count + 1,
                                                         body: UploadBody(bytes)))
            }
            return parts
        }
    }
}
