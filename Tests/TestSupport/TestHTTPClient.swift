import AsyncHTTPClient
import Foundation
import NIOCore
package import NIOHTTP1
import NIOSSL

/// A raw HTTPS client that trusts the emulator's CA, for tests that craft requests by hand.
package struct RawResponse: Sendable {
    package let status: Int
    package let headers: HTTPHeaders
    package let body: [UInt8]
    package var text: String { String(decoding: body, as: UTF8.self) }

    package func json() throws -> [String: Any] {
        (try JSONSerialization.jsonObject(with: Data(body)) as? [String: Any]) ?? [:]
    }
}

package func rawRequest(
    _ method: HTTPMethod, _ url: String, caFile: String?, headers: [(String, String)] = [], body: String? = nil
) async throws -> RawResponse {
    var configuration = HTTPClient.Configuration()
    var tls = TLSConfiguration.makeClientConfiguration()
    if let caFile { tls.additionalTrustRoots = [.file(caFile)] }
    configuration.tlsConfiguration = tls
    configuration.connectionPool.retryConnectionEstablishment = false
    configuration.redirectConfiguration = .disallow
    let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    do {
        var request = HTTPClientRequest(url: url)
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body { request.body = .bytes(ByteBuffer(string: body)) }
        let response = try await client.execute(request, timeout: .seconds(10))
        let bytes = try await response.body.collect(upTo: 1 << 20)
        try await client.shutdown()
        return RawResponse(status: Int(response.status.code), headers: response.headers, body: Array(buffer: bytes))
    } catch {
        try? await client.shutdown()
        throw error
    }
}

/// `application/x-www-form-urlencoded` encoding.
package func formEncode(_ fields: [(String, String)]) -> String {
    var allowed = CharacterSet.alphanumerics
    allowed.insert(charactersIn: "-._~")
    return fields.map { name, value in
        "\(name.addingPercentEncoding(withAllowedCharacters: allowed) ?? name)=\(value.addingPercentEncoding(withAllowedCharacters: allowed) ?? value)"
    }.joined(separator: "&")
}
