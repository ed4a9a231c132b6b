// Known-answer tests for the OpenSSL-backed primitives (RFC 4231, RFC 2202,
// FIPS 180-2, RFC 1321, RFC 4648 values).
import Testing
@testable import OSSCrypto

@Suite struct DigestTests {
    @Test func sha256KnownAnswers() {
        #expect(Hex.lower(Digest.sha256(Array("abc".utf8)))
                == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(Hex.lower(Digest.sha256([UInt8]())) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    }

    @Test func md5KnownAnswers() {
        #expect(Hex.lower(Digest.md5(Array("abc".utf8))) == "900150983cd24fb0d6963f7d28e17f72")
        #expect(Base64.encode(Digest.md5([UInt8]())) == "1B2M2Y8AsgTpgAmY7PhCfg==")
        let h = MD5Hasher()
        "ab".utf8.withContiguousStorageIfAvailable { h.update(UnsafeRawBufferPointer($0)) }
        "c".utf8.withContiguousStorageIfAvailable { h.update(UnsafeRawBufferPointer($0)) }
        #expect(Hex.lower(h.finalize()) == "900150983cd24fb0d6963f7d28e17f72")
    }

    @Test func hmacKnownAnswers() {
        // RFC 2202 test case 2 and RFC 4231 test case 2.
        #expect(Hex.lower(HMAC.sha1(key: Array("Jefe".utf8), data: Array("what do ya want for nothing?".utf8)))
                == "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79")
        #expect(Hex.lower(HMAC.sha256(key: Array("Jefe".utf8), data: Array("what do ya want for nothing?".utf8)))
                == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        #expect(HMAC.sha256(key: [], data: []).count == 32)
    }

    @Test func base64RoundTrip() {
        for (plain, encoded) in [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foobar", "Zm9vYmFy")] {
            #expect(Base64.encode(Array(plain.utf8)) == encoded)
            #expect(Base64.decode(encoded) == Array(plain.utf8))
        }
        #expect(Base64.decode("Zm9v!") == nil)
        #expect(Base64.decode("Zm9") == nil)
    }
}
