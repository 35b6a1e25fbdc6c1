/// The logging metadata keys of the webhook, in one place.
enum WebhookLogKeys {
    static let error = "error"
    static let reason = "reason"
}
