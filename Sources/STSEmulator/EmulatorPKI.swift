public import Crypto
import NIOCore
import NIOSSL
import SwiftASN1
public import X509

#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// A throwaway certificate authority and the certificates it signs, made at start so clients can
/// trust the emulator with an extra-CA option and nothing else.
public struct TestCertificateAuthority: Sendable {
    /// The CA certificate.
    public let certificate: Certificate
    let privateKey: P256.Signing.PrivateKey

    /// Creates a new CA with a fresh P-256 key.
    /// - Parameter name: The CA's common name.
    public init(name: String = "mr-sts-emulator throwaway CA") throws {
        let key = P256.Signing.PrivateKey()
        let subject = try DistinguishedName {
            OrganizationName("mr-token-sidecar")
            CommonName(name)
        }
        let now = Date()
        self.certificate = try Certificate(
            version: .v3,
            serialNumber: Certificate.SerialNumber(),
            publicKey: Certificate.PublicKey(key.publicKey),
            notValidBefore: now.addingTimeInterval(-3600),
            notValidAfter: now.addingTimeInterval(90 * 86400),
            issuer: subject,
            subject: subject,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
                SubjectKeyIdentifier(hash: Certificate.PublicKey(key.publicKey))
            },
            issuerPrivateKey: Certificate.PrivateKey(key)
        )
        self.privateKey = key
    }

    /// The CA certificate as PEM.
    public var certificatePEM: String {
        get throws { try certificate.serializeAsPEM().pemString }
    }

    /// A server certificate and key for the given names.
    /// - Parameters:
    ///   - dnsNames: DNS names in the subject alternative names.
    ///   - ipAddresses: IP addresses (dotted IPv4 or `::1`) in the subject alternative names.
    ///   - notValidBefore: Start of validity (default an hour ago).
    ///   - notValidAfter: End of validity (default in 30 days).
    public func issueServerCertificate(
        dnsNames: [String] = ["localhost"],
        ipAddresses: [String] = ["127.0.0.1", "::1"],
        notValidBefore: Date = Date().addingTimeInterval(-3600),
        notValidAfter: Date = Date().addingTimeInterval(30 * 86400)
    ) throws -> (certificate: Certificate, privateKey: P256.Signing.PrivateKey) {
        let key = P256.Signing.PrivateKey()
        var names: [GeneralName] = dnsNames.map { .dnsName($0) }
        for address in ipAddresses {
            guard let bytes = Self.ipBytes(address) else { throw EmulatorError("\(address) is not an IP address") }
            names.append(.ipAddress(ASN1OctetString(contentBytes: ArraySlice(bytes))))
        }
        let certificate = try Certificate(
            version: .v3,
            serialNumber: Certificate.SerialNumber(),
            publicKey: Certificate.PublicKey(key.publicKey),
            notValidBefore: notValidBefore,
            notValidAfter: notValidAfter,
            issuer: self.certificate.subject,
            subject: try DistinguishedName { CommonName(dnsNames.first ?? ipAddresses.first ?? "server") },
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true))
                try ExtendedKeyUsage([.serverAuth])
                SubjectAlternativeNames(names)
                SubjectKeyIdentifier(hash: Certificate.PublicKey(key.publicKey))
                AuthorityKeyIdentifier(
                    keyIdentifier: try self.certificate.extensions.subjectKeyIdentifier?.keyIdentifier)
            },
            issuerPrivateKey: Certificate.PrivateKey(self.privateKey)
        )
        return (certificate, key)
    }

    /// A server TLS configuration presenting a certificate for the given names.
    func serverTLSConfiguration(
        dnsNames: [String] = ["localhost"],
        ipAddresses: [String] = ["127.0.0.1", "::1"],
        notValidBefore: Date = Date().addingTimeInterval(-3600),
        notValidAfter: Date = Date().addingTimeInterval(30 * 86400)
    ) throws -> TLSConfiguration {
        let (certificate, key) = try issueServerCertificate(
            dnsNames: dnsNames, ipAddresses: ipAddresses, notValidBefore: notValidBefore, notValidAfter: notValidAfter)
        let leaf = try NIOSSLCertificate(bytes: Array(certificate.serializeAsPEM().pemString.utf8), format: .pem)
        let ca = try NIOSSLCertificate(bytes: Array(self.certificatePEM.utf8), format: .pem)
        let privateKey = try NIOSSLPrivateKey(bytes: Array(key.pemRepresentation.utf8), format: .pem)
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: [.certificate(leaf), .certificate(ca)], privateKey: .privateKey(privateKey))
        configuration.minimumTLSVersion = .tlsv12
        // Clients keep idle connections open without answering close_notify; do not hold a
        // graceful shutdown for NIOSSL's default 5 s per connection.
        configuration.shutdownTimeout = .milliseconds(300)
        return configuration
    }

    static func ipBytes(_ text: String) -> [UInt8]? {
        if text == "::1" { return Array(repeating: 0, count: 15) + [1] }
        let parts = text.split(separator: ".")
        guard parts.count == 4 else { return nil }
        let bytes = parts.compactMap { UInt8($0) }
        return bytes.count == 4 ? bytes : nil
    }
}
