// Reading one extended attribute of a path (getxattr(2), which Glibc's module
// does not export): how `ossmount stats` asks a running mount for its counters.
import CFuse3
#if canImport(Glibc)
import Glibc
#endif

public enum ExtendedAttribute {
    /// The value of `name` on `path` (at most `limit` bytes), or the errno.
    public static func read(_ path: String, name: String, limit: Int = 1 << 16) -> Result<[UInt8], FuseError> {
        var buffer = [UInt8](repeating: 0, count: limit)
        let n = buffer.withUnsafeMutableBytes { getxattr(path, name, $0.baseAddress, $0.count) }
        guard n >= 0 else { return .failure(FuseError(errno)) }
        return .success(Array(buffer[0..<n]))
    }
}
