// PutSymlink and GetSymlink. The target travels URL-encoded in
// `x-oss-symlink-target` (decoding a raw target is harmless for plain names).
import ObjectStore

extension OSSClient {
    public func putSymlink(_ key: String, target: String, options: WriteOptions) async throws -> WriteResult {
        var op = OSSOperation(name: "PutSymlink", method: "PUT", key: key, query: [QueryItem("symlink")])
        op.headers.set("x-oss-symlink-target", URIEncoding.encode(target, keepSlash: true))
        ResponseHeaders.apply(options, to: &op.headers)
        let response = try await perform(op)
        return WriteResult(etag: try ResponseHeaders.etag(response.headers), crc64: nil)
    }

    public func getSymlink(_ key: String) async throws -> SymlinkInfo {
        let response = try await perform(OSSOperation(name: "GetSymlink", method: "GET", key: key,
                                                      query: [QueryItem("symlink")]))
        guard let target = response.headers["x-oss-symlink-target"] else {
            throw ObjectStoreError.invalidResponse("GetSymlink \(key): no x-oss-symlink-target")
        }
        return SymlinkInfo(target: URIEncoding.decode(target), etag: try ResponseHeaders.etag(response.headers),
                           lastModified: response.headers["Last-Modified"].flatMap(HTTPDate.parseRFC1123),
                           userMetadata: ResponseHeaders.userMetadata(response.headers))
    }
}
