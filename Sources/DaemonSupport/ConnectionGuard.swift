import HTTPTypes
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTPTypes
import NIOTLS
import Synchronization

/// The open connections of one server, against ``ServerLimits/maxConnections``. At the limit a
/// new connection takes the place of another, chosen from the peer address holding the most
/// connections: the one that got least far (nothing but bytes, then a TLS handshake, then half a
/// request, then a kept-alive connection between requests), among those the one silent the
/// longest. A connection whose request the server is answering is never displaced; when every
/// connection is such, the new one is closed. An abuser's idle, half-open or parked connections
/// thus cannot lock out a client that talks from another address (the API server), even one
/// still in its TLS handshake; from the same address, the client that got furthest stays.
package final class ConnectionGuard: Sendable {
    /// How far a connection got.
    enum Progress: Int, Comparable {
        case opened, handshaken, requesting, completed

        static func < (lhs: Progress, rhs: Progress) -> Bool { lhs.rawValue < rhs.rawValue }
    }

    private struct Entry {
        var channel: any Channel
        /// The peer's IP address ("" when unknown).
        var peer: String
        var progress: Progress
        /// When the connection last sent a byte.
        var lastActivity: ContinuousClock.Instant
        /// Whether the server is answering a request read whole.
        var answering = false
    }

    private struct State {
        var entries: [ObjectIdentifier: Entry] = [:]
        var displaced = 0
        var refused = 0
    }

    package let limits: ServerLimits
    private let state = Mutex(State())

    package init(limits: ServerLimits) {
        self.limits = limits
    }

    /// Registers a connection that just opened; `false` when it must be closed at once.
    func opened(_ channel: any Channel) -> Bool {
        let now = ContinuousClock.now
        let (accepted, displaced) = state.withLock { state -> (Bool, (any Channel)?) in
            var displaced: (any Channel)?
            if state.entries.count >= limits.maxConnections {
                var held: [String: Int] = [:]
                for entry in state.entries.values { held[entry.peer, default: 0] += 1 }
                guard
                    let victim = state.entries.filter({ !$0.value.answering }).min(by: { a, b in
                        let (x, y) = (a.value, b.value)
                        let (heldX, heldY) = (held[x.peer] ?? 0, held[y.peer] ?? 0)
                        if heldX != heldY { return heldX > heldY }
                        return (x.progress, x.lastActivity) < (y.progress, y.lastActivity)
                    })
                else {
                    state.refused += 1
                    return (false, nil)
                }
                displaced = state.entries.removeValue(forKey: victim.key)?.channel
                state.displaced += 1
            }
            state.entries[ObjectIdentifier(channel)] = Entry(
                channel: channel, peer: channel.remoteAddress?.ipAddress ?? "", progress: .opened, lastActivity: now)
            return (true, displaced)
        }
        displaced?.close(promise: nil)
        return accepted
    }

    /// The connection sent bytes.
    func touched(_ channel: any Channel) {
        let now = ContinuousClock.now
        state.withLock { $0.entries[ObjectIdentifier(channel)]?.lastActivity = now }
    }

    /// The connection got further.
    func advance(_ channel: any Channel, to progress: Progress) {
        state.withLock { state in
            guard let current = state.entries[ObjectIdentifier(channel)]?.progress, current < progress else { return }
            state.entries[ObjectIdentifier(channel)]?.progress = progress
        }
    }

    /// The server started (`true`) or finished answering a request of the connection.
    func answering(_ channel: any Channel, _ answering: Bool) {
        state.withLock { $0.entries[ObjectIdentifier(channel)]?.answering = answering }
    }

    /// The connection closed.
    func closed(_ channel: any Channel) {
        _ = state.withLock { $0.entries.removeValue(forKey: ObjectIdentifier(channel)) }
    }

    /// Connections open now.
    package var openConnections: Int { state.withLock { $0.entries.count } }

    /// Connections closed to make room, and connections refused, since start.
    package var pushedBack: (displaced: Int, refused: Int) { state.withLock { ($0.displaced, $0.refused) } }
}

/// A server child channel with the guard in front: the raw-bytes handler first in the pipeline
/// (before TLS), the HTTP handler after the HTTP decoder.
struct GuardedChannel<Base: ServerChildChannel>: ServerChildChannel {
    typealias Value = Base.Value
    let base: Base
    let connections: ConnectionGuard

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(
                ConnectionBytesHandler(guard: connections), position: .first)
        }.flatMap {
            base.setup(channel: channel, logger: logger)
        }
    }

    func handle(value: Value, logger: Logger) async {
        await base.handle(value: value, logger: logger)
    }
}

/// First in the pipeline: registers the connection (or closes it), notes when it sends bytes,
/// and closes it when it has not completed a request within ``ServerLimits/firstRequestTimeout``
/// (the TLS handshake included).
final class ConnectionBytesHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let connections: ConnectionGuard
    private var registered = false
    private var deadline: Scheduled<Void>?

    init(guard connections: ConnectionGuard) {
        self.connections = connections
    }

    func handlerAdded(context: ChannelHandlerContext) {
        guard connections.opened(context.channel) else {
            context.close(promise: nil)
            return
        }
        registered = true
        deadline = schedule(context, after: connections.limits.firstRequestTimeout)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        release(context)
    }

    func channelInactive(context: ChannelHandlerContext) {
        release(context)
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        connections.touched(context.channel)
        context.fireChannelRead(data)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is RequestCompleted {
            deadline?.cancel()
            deadline = nil
            connections.advance(context.channel, to: .completed)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    private func release(_ context: ChannelHandlerContext) {
        deadline?.cancel()
        deadline = nil
        if registered {
            connections.closed(context.channel)
            registered = false
        }
    }
}

/// Told by ``ConnectionRequestHandler`` to ``ConnectionBytesHandler`` (a user event sent back to
/// the head of the pipeline): the connection completed a request.
struct RequestCompleted {}

/// After the HTTP decoder: closes the connection when a request takes longer than
/// ``ServerLimits/requestTimeout`` to arrive, its body longer than ``ServerLimits/bodyTimeout`` or
/// slower than ``ServerLimits/minimumBodyRate``, or the next request longer than
/// ``ServerLimits/idleTimeout``; records the TLS handshake and the first request's progress. An
/// answer written before the body ended (a 503, a 400) does not start the idle time: the body's
/// deadlines still run.
final class ConnectionRequestHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let connections: ConnectionGuard
    private var deadline: Scheduled<Void>?
    private var requestsInProgress = 0
    private var completedOne = false
    /// The request whose head came and whose end has not: when it began, the bytes of body so far,
    /// and the check of its rate.
    private var reading: (since: NIODeadline, bytes: Int, check: RepeatedTask?)?

    init(guard connections: ConnectionGuard) {
        self.connections = connections
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        deadline?.cancel()
        deadline = nil
        reading?.check?.cancel()
        reading = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head:
            requestsInProgress += 1
            let limits = connections.limits
            rearm(context, after: min(limits.requestTimeout, limits.bodyTimeout))
            startReading(context)
            connections.advance(context.channel, to: .requesting)
        case .body(let buffer):
            reading?.bytes += buffer.readableBytes
        case .end:
            // The request is read; the handler's own time is bounded by the request limits.
            deadline?.cancel()
            deadline = nil
            reading?.check?.cancel()
            reading = nil
            connections.answering(context.channel, true)
            if !completedOne {
                completedOne = true
                context.pipeline.fireUserInboundEventTriggered(RequestCompleted())
            }
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) {
            requestsInProgress -= 1
            if requestsInProgress == 0 {
                connections.answering(context.channel, false)
                if reading == nil { rearm(context, after: connections.limits.idleTimeout) }
            }
        }
        context.write(data, promise: promise)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .handshakeCompleted = event as? TLSUserEvent {
            connections.advance(context.channel, to: .handshaken)
        }
        context.fireUserInboundEventTriggered(event)
    }

    /// Checks once a second, from the body's first second on, that it arrives at least at the
    /// minimum rate; closes the connection when it does not.
    private func startReading(_ context: ChannelHandlerContext) {
        reading?.check?.cancel()
        let since = NIODeadline.now()
        let rate = Int64(connections.limits.minimumBodyRate)
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        let check = context.eventLoop.scheduleRepeatedTask(initialDelay: .seconds(1), delay: .seconds(1)) { task in
            let (handler, context) = loopBound.value
            guard let reading = handler.reading else {
                task.cancel()
                return
            }
            let elapsed = (NIODeadline.now() - reading.since).nanoseconds
            if Int64(reading.bytes) * 1_000_000_000 < rate * elapsed {
                task.cancel()
                context.close(promise: nil)
            }
        }
        reading = (since, 0, check)
    }

    private func rearm(_ context: ChannelHandlerContext, after duration: Duration) {
        deadline?.cancel()
        deadline = schedule(context, after: duration)
    }
}

/// Closes the channel after `duration`, unless cancelled.
private func schedule(_ context: ChannelHandlerContext, after duration: Duration) -> Scheduled<Void> {
    let components = duration.components
    let nanoseconds = components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000
    let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
    return context.eventLoop.scheduleTask(in: .nanoseconds(nanoseconds)) {
        loopBound.value.close(promise: nil)
    }
}

@available(*, unavailable)
extension ConnectionBytesHandler: Sendable {}

@available(*, unavailable)
extension ConnectionRequestHandler: Sendable {}
