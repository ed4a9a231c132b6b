// Hashes, MACs and encodings through OpenSSL's EVP interface. These sit on the
// signing path (one HMAC chain per request) and on the upload path (Content-MD5),
// so they take and return plain byte arrays and never allocate more than the output.
import COpenSSL

public enum Digest {
    /// SHA-256 of `data`.
    public static func sha256<Bytes: Sequence<UInt8>>(_ data: Bytes) -> [UInt8] {
        evp("SHA256", Array(data))
    }

    /// MD5 of `data` (Content-MD5 for PUT bodies and DeleteMultipleObjects).
    public static func md5<Bytes: Sequence<UInt8>>(_ data: Bytes) -> [UInt8] {
        evp("MD5", Array(data))
    }

    private static func evp(_ name: String, _ data: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var len: UInt32 = 0
        let ok = data.withUnsafeBytes { input in
            out.withUnsafeMutableBufferPointer { output in
                // Safety: `input` and `output` are live for the call; EVP_Digest writes at most
                // EVP_MAX_MD_SIZE bytes, which is `output`'s size.
                EVP_Digest(input.baseAddress, input.count, output.baseAddress, &len,
                           EVP_get_digestbyname(name), nil)
            }
        }
        precondition(ok == 1, "EVP_Digest(\(name)) failed")
        return Array(out.prefix(Int(len)))
    }
}

/// Incremental MD5, for bodies that arrive in pieces. `finalize` once, at the end.
public final class MD5Hasher {
    private let ctx: OpaquePointer

    public init() {
        guard let ctx = EVP_MD_CTX_new(), EVP_DigestInit_ex(ctx, EVP_get_digestbyname("MD5"), nil) == 1 else {
            preconditionFailure("EVP_DigestInit_ex(MD5) failed")
        }
        self.ctx = ctx
    }

    public func update(_ bytes: UnsafeRawBufferPointer) {
        // Safety: `bytes` is valid for its count for the duration of the call.
        _ = EVP_DigestUpdate(ctx, bytes.baseAddress, bytes.count)
    }

    public func finalize() -> [UInt8] {
        var out = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var len: UInt32 = 0
        // Safety: `out` holds EVP_MAX_MD_SIZE bytes, the most EVP_DigestFinal_ex writes.
        _ = out.withUnsafeMutableBufferPointer { EVP_DigestFinal_ex(ctx, $0.baseAddress, &len) }
        return Array(out.prefix(Int(len)))
    }

    deinit { EVP_MD_CTX_free(ctx) }
}

public enum HMAC {
    public static func sha1(key: [UInt8], data: [UInt8]) -> [UInt8] { mac("SHA1", key, data) }
    public static func sha256(key: [UInt8], data: [UInt8]) -> [UInt8] { mac("SHA256", key, data) }

    private static func mac(_ name: String, _ key: [UInt8], _ data: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        let len = key.withUnsafeBytes { k in
            data.withUnsafeBytes { d in
                out.withUnsafeMutableBufferPointer { o in
                    // Safety: all three buffers are live for the call and `o` has the capacity we pass.
                    COpenSSL_hmac(name, k.baseAddress, k.count, d.baseAddress, d.count, o.baseAddress, o.count)
                }
            }
        }
        precondition(len > 0, "HMAC-\(name) failed")
        return Array(out.prefix(len))
    }
}

public enum Base64 {
    public static func encode<Bytes: Collection<UInt8>>(_ data: Bytes) -> String {
        let input = Array(data)
        var out = [UInt8](repeating: 0, count: 4 * ((input.count + 2) / 3) + 1)
        let n = input.withUnsafeBufferPointer { i in
            out.withUnsafeMutableBufferPointer { o in
                // Safety: `o` has room for the 4/3 expansion plus the NUL EVP_EncodeBlock writes.
                EVP_EncodeBlock(o.baseAddress, i.baseAddress, Int32(i.count))
            }
        }
        return String(decoding: out.prefix(Int(n)), as: UTF8.self)
    }

    /// Standard (padded) base64; nil when the input is not valid base64.
    public static func decode(_ text: String) -> [UInt8]? {
        var value: UInt32 = 0, bits = 0
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count * 3 / 4)
        var padding = 0
        for c in text.utf8 {
            let v: UInt32
            switch c {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): v = UInt32(c - UInt8(ascii: "A"))
            case UInt8(ascii: "a")...UInt8(ascii: "z"): v = UInt32(c - UInt8(ascii: "a")) + 26
            case UInt8(ascii: "0")...UInt8(ascii: "9"): v = UInt32(c - UInt8(ascii: "0")) + 52
            case UInt8(ascii: "+"): v = 62
            case UInt8(ascii: "/"): v = 63
            case UInt8(ascii: "="): padding += 1; continue
            default: return nil
            }
            if padding > 0 { return nil }
            value = (value << 6) | v
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8((value >> UInt32(bits)) & 0xFF))
            }
        }
        return (text.utf8.count % 4 == 0 && padding <= 2) ? out : nil
    }
}

public enum Hex {
    private static let digits = Array("0123456789abcdef".utf8)

    public static func lower<Bytes: Sequence<UInt8>>(_ data: Bytes) -> String {
        var out: [UInt8] = []
        for b in data {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    public static func upper<Bytes: Sequence<UInt8>>(_ data: Bytes) -> String { lower(data).uppercased() }

    /// Bytes from hex digits (either case); nil for odd length or a non-hex character.
    public static func decode(_ text: String) -> [UInt8]? {
        let chars = Array(text.utf8)
        guard chars.count % 2 == 0 else { return nil }
        func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
            default: nil
            }
        }
        var out: [UInt8] = []
        out.reserveCapacity(chars.count / 2)
        for i in stride(from: 0, to: chars.count, by: 2) {
            guard let h = nibble(chars[i]), let l = nibble(chars[i + 1]) else { return nil }
            out.append(h << 4 | l)
        }
        return out
    }
}
