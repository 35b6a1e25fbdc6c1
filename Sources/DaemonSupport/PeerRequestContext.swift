import AzureCore
package import Hummingbird
package import NIOCore

/// The request context of the sidecar's and the webhook's servers: Hummingbird's, plus the
/// client's address, so that a route can answer loopback clients only.
package struct PeerRequestContext: RequestContext, RemoteAddressRequestContext {
    package var coreContext: CoreRequestContextStorage
    /// The connected client.
    package let remoteAddress: SocketAddress?

    package init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.remoteAddress = source.channel.remoteAddress
    }

    /// Whether the client connected from a loopback address (inside the pod).
    package var isLoopbackClient: Bool { Self.isLoopback(remoteAddress) }

    /// Whether `address` is a loopback address (`nil`, an unknown peer, is not).
    package static func isLoopback(_ address: SocketAddress?) -> Bool {
        address?.ipAddress.map(IPAddressRule.isLoopback) ?? false
    }
}
