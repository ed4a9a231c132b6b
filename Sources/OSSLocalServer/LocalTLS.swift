// HTTPS for osslocal, through swift-nio-ssl: the server's certificate and key
// from PEM files, or a throwaway CA and a server certificate for localhost,
// 127.0.0.1 and *.localhost written by `--tls-self-signed DIR` (COpenSSL's test
// PKI). Every completed handshake is counted and logged, so a test can tell how
// often a client set up TLS (connection and session reuse).
import COpenSSL
import Foundation
import NIOCore
import NIOSSL
import NIOTLS
import Synchronization

public struct TLSFiles: Sendable {
    /// PEM certificate chain, leaf first.
    public var certificate: String
    /// PEM private key.
    public var key: String
    /// The CA that signed it, when osslocal made it (what clients pass as their CA bundle).
    public var authority: String?

    public init(certificate: String, key: String, authority: String? = nil) {
        self.certificate = certificate
        self.key = key
        self.authority = authority
    }

    /// Subject alternative names of the self-signed server certificate.
    public static let selfSignedNames = "DNS:localhost,DNS:*.localhost,IP:127.0.0.1"

    /// Writes a CA and a server certificate it signed (valid for a year) into `directory`.
    public static func selfSigned(in directory: String, names: String = selfSignedNames,
                                  validFrom: Int = -3600, validTo: Int = 365 * 86400) throws -> TLSFiles {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var message = [CChar](repeating: 0, count: 256)
        guard COpenSSL_write_test_pki(directory, names, validFrom, validTo, &message, message.count) == 0 else {
            throw BlobError(description: "--tls-self-signed \(directory): " + String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        return TLSFiles(certificate: directory + "/server.pem", key: directory + "/server-key.pem",
                        authority: directory + "/ca.pem")
    }

    func context() throws -> NIOSSLContext {
        let chain = try NIOSSLCertificate.fromPEMFile(certificate).map { NIOSSLCertificateSource.certificate($0) }
        let key = try NIOSSLPrivateKey(file: self.key, format: .pem)
        return try NIOSSLContext(configuration: .makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(key)))
    }
}

/// Connections accepted and TLS handshakes completed, since the start.
final class ConnectionStats: Sendable {
    private let counts = Mutex((connections: 0, handshakes: 0))
    func connected() { counts.withLock { $0.connections += 1 } }
    func handshook() { counts.withLock { $0.handshakes += 1 } }
    var connections: Int { counts.withLock { $0.connections } }
    var handshakes: Int { counts.withLock { $0.handshakes } }
}

/// Sits after the TLS handler: counts and logs each completed handshake.
final class HandshakeObserver: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    let stats: ConnectionStats
    let log: RequestLog?

    init(stats: ConnectionStats, log: RequestLog?) {
        self.stats = stats
        self.log = log
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let tls = event as? TLSUserEvent, case .handshakeCompleted = tls {
            stats.handshook()
            log?.record(method: "-", op: "tlsHandshake", bucket: nil, key: "", query: "", status: 0, bytes: 0,
                        milliseconds: 0)
        }
        context.fireUserInboundEventTriggered(event)
    }
}
