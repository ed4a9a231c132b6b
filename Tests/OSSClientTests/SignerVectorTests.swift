// Every record signed by the official Python SDKs must come out of our signers
// byte for byte: string to sign, canonical request, signing key, Authorization,
// and the wire URL. The counts are asserted so a record cannot be skipped.
import Foundation
import OSSCrypto
import Testing
@testable import OSSClient

@Suite struct SignerVectorTests {
    let endpoint = OSSEndpoint(host: "oss-cn-hangzhou.aliyuncs.com", scheme: "https", addressing: .virtualHosted)

    @Test func v1HeaderVectors() throws {
        let records = try Vectors.load("v1.jsonl")
        var checked = 0
        for r in records {
            let id = r["id"] as! String
            let req = Vectors.signingRequest(r)
            let date = req.headers["x-oss-date"] ?? req.headers["Date"]!
            #expect(SignerV1.stringToSign(req, dateSlot: date) == r["string_to_sign"] as! String, "\(id)")
            #expect(SignerV1.authorization(req, credentials: Vectors.credentials(r)) == r["authorization"] as! String,
                    "\(id)")
            #expect(endpoint.url(bucket: req.bucket, key: req.key, query: req.query, style: Vectors.style(r))
                    == r["url"] as! String, "\(id)")
            checked += 1
        }
        print("V1 header vectors checked: \(checked)")
        #expect(checked == 58)
    }

    @Test func v4HeaderVectors() throws {
        let records = try Vectors.load("v4.jsonl")
        var checked = 0
        for r in records {
            let id = r["id"] as! String
            let req = Vectors.signingRequest(r)
            let creds = Vectors.credentials(r)
            let region = r["region"] as! String
            let result = SignerV4.authorize(req, credentials: creds, region: region, style: Vectors.style(r))
            #expect(result.canonicalRequest == r["canonical_request"] as! String, "\(id)")
            #expect(result.stringToSign == r["string_to_sign"] as! String, "\(id)")
            #expect(result.authorization == r["authorization"] as! String, "\(id)")
            let key = SignerV4.signingKey(secret: creds.accessKeySecret, day: "20240102", region: region)
            #expect(Hex.lower(key) == r["signing_key_hex"] as! String, "\(id)")
            #expect(endpoint.url(bucket: req.bucket, key: req.key, query: req.query, style: Vectors.style(r))
                    == r["url"] as! String, "\(id)")
            checked += 1
        }
        print("V4 header vectors checked: \(checked)")
        #expect(checked == 58)
    }

    @Test func presignVectors() throws {
        let records = try Vectors.load("presign.jsonl")
        var checked = 0
        for r in records {
            let id = r["id"] as! String
            let params = (r["params"] as! [String: String]).sorted { $0.key < $1.key }.map { QueryItem($0.key, $0.value) }
            let req = SigningRequest(method: r["method"] as! String, bucket: r["bucket"] as? String,
                                     key: r["key"] as! String, query: params)
            let creds = Vectors.credentials(r)
            let time = SigningTime(unixSeconds: Vectors.unixTime(r))
            let expiresIn = Int64(r["expires_in_seconds"] as! Int)
            let style = Vectors.style(r)
            let url: String
            if r["signature_version"] as! String == "v1" {
                let p = SignerV1.presignQuery(req, credentials: creds, expires: time.unixSeconds + expiresIn, style: style)
                #expect(p.stringToSign == r["string_to_sign"] as! String, "\(id)")
                url = endpoint.url(bucket: req.bucket, key: req.key, query: params + p.items)
            } else {
                let p = SignerV4.presignQuery(req, credentials: creds, region: r["region"] as! String, time: time,
                                              expiresIn: expiresIn, style: style)
                #expect(p.canonicalRequest == r["canonical_request"] as! String, "\(id)")
                #expect(p.stringToSign == r["string_to_sign"] as! String, "\(id)")
                url = endpoint.url(bucket: req.bucket, key: req.key, query: params + p.items)
            }
            #expect(url == r["url"] as! String, "\(id)")
            checked += 1
        }
        print("Presign vectors checked: \(checked)")
        #expect(checked == 24)
    }
}

@Suite struct SigningKeyCacheTests {
    @Test func theKeyIsTheDaysAndChangesWithDaySecretAndRegion() {
        let cache = SigningKeyCache()
        let a = Credentials(accessKeyId: "id", accessKeySecret: "secret-a")
        let b = Credentials(accessKeyId: "id", accessKeySecret: "secret-b")
        for (creds, day, region) in [(a, "20261202", "cn-hangzhou"), (a, "20261202", "cn-hangzhou"), (a, "20261203", "cn-hangzhou"),
                                     (b, "20261203", "cn-hangzhou"), (b, "20261203", "cn-beijing"), (a, "20261202", "cn-hangzhou")] {
            #expect(cache.key(creds, day: day, region: region)
                == SignerV4.signingKey(secret: creds.accessKeySecret, day: day, region: region))
        }
        #expect(cache.key(a, day: "20261202", region: "r") != cache.key(b, day: "20261202", region: "r"))
    }
}
