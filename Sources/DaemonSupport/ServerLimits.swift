/// What one HTTP server of the sidecar or the webhook allows a client, so that idle, half-open
/// or slow connections and floods of large bodies cannot make it stop answering: both servers
/// get the same limits (docs/security.md).
package struct ServerLimits: Sendable, Hashable {
    /// Connections open at once. At the limit, a new connection closes the oldest one that has
    /// not completed a request yet (idle or half-open, typically an abuser's); when every
    /// connection has, the new one is closed.
    package var maxConnections: Int
    /// From a connection's opening (the TLS handshake included) to the end of its first
    /// request: a connection that does not get there is closed.
    package var firstRequestTimeout: Duration
    /// From a request's first byte to its last: a client that sends slowly is cut off.
    package var requestTimeout: Duration
    /// From a request's head to the last byte of its body, whatever the other deadlines allow: a
    /// body that stops arriving holds its connection no longer.
    package var bodyTimeout: Duration
    /// The slowest a body may arrive, in bytes a second on average, checked from its first second
    /// on: a client that trickles a byte at a time is cut off then.
    package var minimumBodyRate: Int
    /// Between a response and the next request on a kept-alive connection.
    package var idleTimeout: Duration
    /// Requests without a body handled at once; more wait in turn, at most `queueTimeout`, then
    /// get a 503. A request with a body does not take a place while its body arrives: the route
    /// that reads it bounds the work after (the webhook's lanes).
    package var maxRequestsInFlight: Int
    /// The longest a request waits for its turn.
    package var queueTimeout: Duration

    package init(
        maxConnections: Int = 128, firstRequestTimeout: Duration = .seconds(10),
        requestTimeout: Duration = .seconds(10),
        idleTimeout: Duration = .seconds(60), maxRequestsInFlight: Int = 16, queueTimeout: Duration = .seconds(4),
        bodyTimeout: Duration = .seconds(5), minimumBodyRate: Int = 16 << 10
    ) {
        self.bodyTimeout = bodyTimeout
        self.minimumBodyRate = minimumBodyRate
        self.maxConnections = maxConnections
        self.firstRequestTimeout = firstRequestTimeout
        self.requestTimeout = requestTimeout
        self.idleTimeout = idleTimeout
        self.maxRequestsInFlight = maxRequestsInFlight
        self.queueTimeout = queueTimeout
    }
}
