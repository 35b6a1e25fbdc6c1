public import AzureCore
import Crypto
public import Logging
import SwiftASN1
import Synchronization
import X509
import _CryptoExtras

#if canImport(FoundationEssentials)
package import FoundationEssentials
#else
package import Foundation
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Authenticates an Entra application with a certificate: a PEM file holding the certificate
/// (and optionally its chain) and its unencrypted private key (RSA, or EC P-256).
///
/// Each request carries a fresh client assertion (a new `jti`, valid for 10 minutes), signed
/// PS256 with `x5t#S256` by default, or RS256 with `x5t` for legacy authorities (ADFS). The file
/// is read again whenever it changes on disk (Kubernetes rotates mounted Secrets in place).
public struct ClientCertificateCredential: TokenCredential, CustomStringConvertible {
    /// How the assertion is signed.
    public enum AssertionAlgorithm: String, Sendable {
        /// RSASSA-PSS with SHA-256 and the `x5t#S256` thumbprint: current Entra guidance.
        case ps256 = "PS256"
        /// RSASSA-PKCS1-v1_5 with SHA-256 and the SHA-1 `x5t` thumbprint: ADFS and legacy.
        case rs256 = "RS256"
    }

    static let name = "ClientCertificateCredential"
    /// The assertion lifetime.
    public static let assertionLifetime: Double = 600

    let client: EntraClient
    /// The PEM file.
    public let certificatePath: String
    /// Whether the `x5c` chain is sent (subject name / issuer authentication).
    public let sendCertificateChain: Bool
    /// The algorithm for RSA keys (EC keys always sign ES256).
    public let algorithm: AssertionAlgorithm
    let cache: TokenCache
    let loader: CertificateFile

    /// Creates a credential.
    /// - Parameters:
    ///   - tenantId: The tenant id.
    ///   - clientId: The application (client) id.
    ///   - certificatePath: A PEM file with the certificate and its private key.
    ///   - sendCertificateChain: Send the `x5c` header (default `false`).
    ///   - algorithm: `ps256` (default) or `rs256`.
    ///   - options: Authority host and HTTP options.
    /// - Throws: ``AzureIdentityError`` (`invalidArgument`) naming the bad argument.
    public init(
        tenantId: String, clientId: String, certificatePath: String, sendCertificateChain: Bool = false,
        algorithm: AssertionAlgorithm = .ps256, options: TokenCredentialOptions = .init()
    ) throws {
        guard !certificatePath.isEmpty else {
            throw AzureIdentityError(.invalidArgument, credential: Self.name, "certificatePath is empty")
        }
        self.client = try EntraClient(
            credentialName: Self.name, tenantId: tenantId, clientId: clientId, options: options)
        self.certificatePath = certificatePath
        self.sendCertificateChain = sendCertificateChain
        self.algorithm = algorithm
        self.cache = TokenCache(now: options.now)
        self.loader = CertificateFile(path: certificatePath)
    }

    public func getToken(for context: TokenRequestContext, logger: Logger) async throws -> AccessToken {
        try await cache.token(for: context.cacheKey) { [self] in
            let assertion = try makeAssertion(now: client.now())
            // A retry carries a new assertion: Entra refuses a jti it has seen (a replay).
            return try await client.requestToken(
                context: context, credentialFields: WorkloadIdentityCredential.fields(assertion),
                freshCredentialFields: { [self] in
                    WorkloadIdentityCredential.fields(try makeAssertion(now: client.now()))
                }, logger: logger)
        }
    }

    /// A signed client assertion for the token endpoint.
    func makeAssertion(now: Date) throws -> String {
        let material = try loader.current()
        var header: [String: JSONValue] = ["typ": "JWT"]
        let key: JWSSigningKey
        switch material.key {
        case .rsa(let rsa) where algorithm == .rs256:
            key = .rsa(rsa, algorithm: .rs256)
            header["x5t"] = .string(Base64URL.encode(Array(Insecure.SHA1.hash(data: material.leafDER))))
        case .rsa(let rsa):
            key = .rsa(rsa, algorithm: .ps256)
            header["x5t#S256"] = .string(Base64URL.encode(Array(SHA256.hash(data: material.leafDER))))
        case .p256(let p256):
            key = .p256(p256)
            header["x5t#S256"] = .string(Base64URL.encode(Array(SHA256.hash(data: material.leafDER))))
        }
        if sendCertificateChain {
            header["x5c"] = .array(material.chainDER.map { .string(Data($0).base64EncodedString()) })
        }
        let issued = Double(Int64(now.timeIntervalSince1970))
        let claims: [String: JSONValue] = [
            "aud": .string(client.tokenURL.absoluteString), "iss": .string(client.clientId),
            "sub": .string(client.clientId), "jti": .string(UUID().uuidString.lowercased()), "nbf": .number(issued),
            "iat": .number(issued), "exp": .number(issued + Self.assertionLifetime),
        ]
        do {
            return try JWS.sign(header: header, claims: claims, with: key)
        } catch {
            throw AzureIdentityError(
                .invalidArgument, credential: Self.name, "cannot sign with the key in \(certificatePath)", cause: error)
        }
    }

    public var description: String {
        "ClientCertificateCredential(tenantId: \(client.tenantId), clientId: \(client.clientId), certificate: \(certificatePath))"
    }
}

extension ClientCertificateCredential {
    /// What the doctor needs of a certificate file: that it parses with its key, and the
    /// certificate's validity and subject (never the key).
    package struct Inspection: Sendable {
        package var notValidBefore: Date
        package var notValidAfter: Date
        package var subject: String
        package var thumbprint: String
    }

    /// Reads and checks a certificate file as the credential would.
    /// - Throws: ``AzureIdentityError`` naming the file and what is wrong with it.
    package static func inspect(path: String) throws -> Inspection {
        let pem = try SecretFile.read(path, what: "the certificate file", credential: name)
        let material = try CertificateMaterial.parse(pem, path: path)
        let certificate = try Certificate(derEncoded: material.leafDER)
        return Inspection(
            notValidBefore: certificate.notValidBefore, notValidAfter: certificate.notValidAfter,
            subject: "\(certificate.subject)",
            thumbprint: Array(Insecure.SHA1.hash(data: material.leafDER)).map {
                ($0 < 16 ? "0" : "") + String($0, radix: 16, uppercase: true)
            }.joined())
    }
}

/// What a certificate PEM file holds.
struct CertificateMaterial: Sendable {
    enum Key: Sendable {
        case rsa(_RSA.Signing.PrivateKey)
        case p256(P256.Signing.PrivateKey)
    }
    let key: Key
    /// The certificate matching the key, DER.
    let leafDER: [UInt8]
    /// The leaf first, then the other certificates of the file, DER.
    let chainDER: [[UInt8]]

    /// Parses PEM text: certificates and one unencrypted private key.
    static func parse(_ pem: String, path: String) throws -> CertificateMaterial {
        let credential = ClientCertificateCredential.name
        func invalid(_ message: String) -> AzureIdentityError {
            AzureIdentityError(.invalidArgument, credential: credential, "\(path): \(message)")
        }
        let documents: [PEMDocument]
        do {
            documents = try PEMDocument.parseMultiple(pemString: pem)
        } catch {
            throw invalid("not a PEM file: give the certificate and its private key in PEM (PFX is not supported)")
        }
        guard !documents.isEmpty else {
            throw invalid("not a PEM file: give the certificate and its private key in PEM (PFX is not supported)")
        }
        var certificates: [(der: [UInt8], certificate: Certificate)] = []
        var keys: [Key] = []
        for document in documents {
            switch document.discriminator {
            case "CERTIFICATE":
                guard let certificate = try? Certificate(derEncoded: document.derBytes) else {
                    throw invalid("a CERTIFICATE block does not parse")
                }
                certificates.append((document.derBytes, certificate))
            case "PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY":
                if let rsa = try? _RSA.Signing.PrivateKey(pemRepresentation: document.pemString) {
                    keys.append(.rsa(rsa))
                } else if let ec = try? P256.Signing.PrivateKey(pemRepresentation: document.pemString) {
                    keys.append(.p256(ec))
                } else {
                    throw invalid("the private key is neither RSA nor EC P-256")
                }
            case "ENCRYPTED PRIVATE KEY":
                throw invalid("the private key is encrypted: store it unencrypted in a Kubernetes Secret")
            default:
                continue
            }
        }
        guard !certificates.isEmpty else { throw invalid("no CERTIFICATE block") }
        guard keys.count == 1, let key = keys.first else {
            throw invalid(keys.isEmpty ? "no private key block" : "more than one private key block")
        }
        let publicKey: Certificate.PublicKey =
            switch key {
            case .rsa(let rsa): Certificate.PublicKey(rsa.publicKey)
            case .p256(let ec): Certificate.PublicKey(ec.publicKey)
            }
        guard let leafIndex = certificates.firstIndex(where: { $0.certificate.publicKey == publicKey }) else {
            throw invalid("no certificate in the file matches the private key")
        }
        var chain = certificates.map(\.der)
        let leaf = chain.remove(at: leafIndex)
        return CertificateMaterial(key: key, leafDER: leaf, chainDER: [leaf] + chain)
    }
}

/// The certificate file, parsed again whenever its identity (device, inode, size, mtime) changes.
final class CertificateFile: Sendable {
    let path: String
    private let cache = FileVersionCache<CertificateMaterial>()

    init(path: String) {
        self.path = path
    }

    func current() throws -> CertificateMaterial {
        try cache.value(path) {
            let pem = try SecretFile.read(
                path, what: "the certificate file", credential: ClientCertificateCredential.name)
            return try CertificateMaterial.parse(pem, path: path)
        }
    }
}
