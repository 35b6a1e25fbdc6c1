import AzureCore
import NIOCore
import NIOSSL
import SwiftASN1
import Synchronization
import X509

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The webhook's serving certificate, swapped in place when its files change: every TLS
/// handshake asks the store for the current one.
final class CertificateStore: Sendable {
    struct Loaded: Sendable {
        var chain: [NIOSSLCertificate]
        var key: NIOSSLPrivateKey
        var notAfter: Date
    }

    let certificateFile: String
    let keyFile: String
    private struct State {
        var loaded: Loaded?
        /// The bytes of both files at the last look, `nil` when they could not be read.
        var lastSeen: [UInt8]?
        /// The last problem reported, so that a lasting one is logged once.
        var lastFailure: String?
    }

    private let state = Mutex(State())

    init(certificateFile: String, keyFile: String) {
        self.certificateFile = certificateFile
        self.keyFile = keyFile
    }

    var current: Loaded? { state.withLock { $0.loaded } }

    enum Check: Sendable {
        /// The files are as they were.
        case unchanged
        case loaded(Loaded)
        /// The files changed but cannot be used; the old certificate (if any) stays.
        case failed(InjectorError)
    }

    /// Reads the files and loads them when they changed since the last look.
    func check() -> Check {
        let combined: [UInt8]
        let files: (certificate: [UInt8], key: [UInt8])
        do {
            files = (try Self.read(certificateFile), try Self.read(keyFile))
            combined = files.certificate + [0] + files.key
        } catch {
            return failed(error, seen: nil)
        }
        guard state.withLock({ $0.lastSeen != combined }) else { return .unchanged }
        do {
            let loaded = try Self.parse(
                certificate: files.certificate, key: files.key, files: (certificateFile, keyFile))
            state.withLock { state in
                state = State(loaded: loaded, lastSeen: combined, lastFailure: nil)
            }
            return .loaded(loaded)
        } catch {
            return failed(error, seen: combined)
        }
    }

    private func failed(_ error: InjectorError, seen: [UInt8]?) -> Check {
        state.withLock { state in
            defer {
                state.lastSeen = seen
                state.lastFailure = error.message
            }
            return state.lastFailure == error.message ? .unchanged : .failed(error)
        }
    }

    private static func read(_ path: String) throws(InjectorError) -> [UInt8] {
        switch FileStatus.read(path, maxBytes: 1 << 20) {
        case .success(let content): return content
        case .failure(.tooLarge): throw InjectorError(.certificate, "\(path) is larger than 1 MiB")
        case .failure(.notRegular): throw InjectorError(.certificate, "\(path) is not a regular file")
        case .failure:
            throw InjectorError(.certificate, "cannot read \(path): check that the TLS Secret is mounted there")
        }
    }

    private static func parse(
        certificate: [UInt8], key: [UInt8], files: (certificate: String, key: String)
    ) throws(InjectorError) -> Loaded {
        let certificatePEM = String(decoding: certificate, as: UTF8.self)
        let keyPEM = String(decoding: key, as: UTF8.self)
        let leaf: Certificate
        do {
            let documents = try PEMDocument.parseMultiple(pemString: certificatePEM)
            guard let first = documents.first else {
                throw InjectorError(.certificate, "\(files.certificate) holds no PEM certificate")
            }
            leaf = try Certificate(pemDocument: first)
        } catch let error as InjectorError {
            throw error
        } catch {
            throw InjectorError(.certificate, "\(files.certificate) is not a PEM certificate")
        }
        do {
            let privateKey = try Certificate.PrivateKey(pemEncoded: keyPEM)
            guard privateKey.publicKey == leaf.publicKey else {
                throw InjectorError(
                    .certificate, "the key in \(files.key) does not belong to the certificate in \(files.certificate)")
            }
        } catch let error as InjectorError {
            throw error
        } catch {
            throw InjectorError(.certificate, "\(files.key) is not an unencrypted PEM private key (RSA, EC or PKCS#8)")
        }
        do {
            return Loaded(
                chain: try NIOSSLCertificate.fromPEMBytes(certificate),
                key: try NIOSSLPrivateKey(bytes: key, format: .pem),
                notAfter: leaf.notValidAfter)
        } catch {
            throw InjectorError(.certificate, "\(files.certificate) or \(files.key) cannot be used for TLS")
        }
    }

    /// The TLS 1.2 suites served.
    static let tls12CipherSuites: [NIOTLSCipher] = [
        .TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, .TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        .TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, .TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        .TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, .TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    ]

    /// The server configuration: the first certificate, then whatever is current at each handshake.
    func tlsConfiguration(_ initial: Loaded) -> TLSConfiguration {
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: initial.chain.map { .certificate($0) }, privateKey: .privateKey(initial.key))
        configuration.minimumTLSVersion = .tlsv12
        // TLS 1.3 (whose suites are all AEAD), or TLS 1.2 with ECDHE and an AEAD cipher only:
        // forward secrecy, no CBC, no RSA key exchange.
        configuration.cipherSuiteValues = Self.tls12CipherSuites
        configuration.shutdownTimeout = .milliseconds(500)
        configuration.sslContextCallback = { [self] _, promise in
            var override = NIOSSLContextConfigurationOverride()
            if let loaded = current {
                override.certificateChain = loaded.chain.map { .certificate($0) }
                override.privateKey = .privateKey(loaded.key)
            }
            promise.succeed(override)
        }
        return configuration
    }
}
