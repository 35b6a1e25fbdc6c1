import AzureCore
package import ServiceLifecycle

extension ServiceGroupConfiguration {
    /// The group's log lines under the project's keys (`mr.service`, `error.message`...) instead
    /// of swift-service-lifecycle's `sl-*`, so that every key of the stream is in docs/logging.md.
    package mutating func useProjectLogKeys() {
        logging.keys.signalKey = LogKeys.signal
        logging.keys.gracefulShutdownSignalsKey = LogKeys.gracefulShutdownSignals
        logging.keys.cancellationSignalsKey = LogKeys.cancellationSignals
        logging.keys.serviceKey = LogKeys.service
        logging.keys.servicesKey = LogKeys.services
        logging.keys.errorKey = LogKeys.errorMessage
    }
}
