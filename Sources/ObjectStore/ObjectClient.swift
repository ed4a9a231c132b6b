// The contract between the VFS and an object store. OSSClient implements it over
// HTTP; InMemoryObjectStore implements it for tests. Keys are decoded object names
// (UTF-8, no leading bucket). Every method may throw ObjectStoreError only.

public protocol ObjectClient: Sendable {
    func headObject(_ key: String, ifMatch: ETag?) async throws -> ObjectInfo

    /// Reads the whole object or `range`. With `ifMatch`, a changed object fails with
    /// PreconditionFailed (412) instead of returning other bytes. A full read is checked
    /// against the server's CRC-64.
    func getObject(_ key: String, range: ByteRange?, ifMatch: ETag?, into destination: ReadDestination) async throws
        -> GetResult

    /// One try of a GET into `buffer` without a Task: `completion` is called once, from any
    /// thread, with the result; no retry (on a failure, go on with `getObject`). Returns
    /// what cancels it; nil when not started (use `getObject`).
    func startGetObject(_ key: String, range: ByteRange?, ifMatch: ETag?, into buffer: MutableBytes,
                        completion: @escaping @Sendable (Result<GetResult, ObjectStoreError>) -> Void)
        -> (@Sendable () -> Void)?

    func putObject(_ key: String, body: UploadBody, options: WriteOptions) async throws -> WriteResult

    /// Appends at `position`, which must equal the current length (0 creates the object).
    /// `previousCRC` is the CRC-64 of the object before this append, when known, so the
    /// CRC the server returns for the whole object can be checked.
    func appendObject(_ key: String, position: UInt64, body: UploadBody, options: WriteOptions,
                      previousCRC: UInt64?) async throws -> AppendResult

    func listObjects(_ request: ListRequest) async throws -> ListPage

    /// Deleting a missing key succeeds, as on OSS.
    func deleteObject(_ key: String) async throws

    /// Deletes up to 1000 keys in one request; returns the keys the service reported deleted.
    func deleteObjects(_ keys: [String]) async throws -> [String]

    func copyObject(from source: String, to destination: String, directive: MetadataDirective, sourceIfMatch: ETag?)
        async throws -> WriteResult

    func initiateMultipartUpload(_ key: String, options: WriteOptions) async throws -> String
    func uploadPart(_ key: String, uploadId: String, partNumber: Int, body: UploadBody) async throws -> PartInfo
    func uploadPartCopy(_ key: String, uploadId: String, partNumber: Int, source: String, range: ByteRange?,
                        sourceIfMatch: ETag?) async throws -> PartInfo
    func completeMultipartUpload(_ key: String, uploadId: String, parts: [PartInfo]) async throws -> WriteResult
    func abortMultipartUpload(_ key: String, uploadId: String) async throws
    func listParts(_ key: String, uploadId: String, partNumberMarker: Int?, maxParts: Int) async throws -> PartsPage
    func listMultipartUploads(prefix: String, keyMarker: String?, uploadIdMarker: String?, maxUploads: Int)
        async throws -> UploadsPage

    func putSymlink(_ key: String, target: String, options: WriteOptions) async throws -> WriteResult
    func getSymlink(_ key: String) async throws -> SymlinkInfo
}

extension ObjectClient {
    public func startGetObject(_ key: String, range: ByteRange?, ifMatch: ETag?, into buffer: MutableBytes,
                               completion: @escaping @Sendable (Result<GetResult, ObjectStoreError>) -> Void)
        -> (@Sendable () -> Void)?
    {
        nil
    }

    public func headObject(_ key: String) async throws -> ObjectInfo { try await headObject(key, ifMatch: nil) }

    /// The whole object (or range) as an array; for small objects and tests.
    public func getBytes(_ key: String, range: ByteRange? = nil, ifMatch: ETag? = nil, limit: Int = 1 << 30)
        async throws -> [UInt8]
    {
        try await getObject(key, range: range, ifMatch: ifMatch, into: .collect(limit: limit)).body ?? []
    }

    public func putObject(_ key: String, bytes: [UInt8], options: WriteOptions = WriteOptions()) async throws
        -> WriteResult
    {
        try await putObject(key, body: UploadBody(bytes), options: options)
    }
}
