package import SidecarConfig

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// What a config reload changes, decided from the old and the new config alone: which loops
/// stop, which start, which accounts go, and what only a restart applies.
package struct ReloadPlan: Equatable, Sendable {
    /// Accounts whose loops stop: removed, changed, or all of them when `refresh` or `tls`
    /// changed.
    package var stop: [String]
    /// Of those, the ones no longer in the config (their status and series go too).
    package var removed: [String]
    /// Accounts whose loops start, in config order: new, changed, restarted, or not running.
    package var start: [String]
    /// How many of `start` are new to the config.
    package var added: Int
    /// Accounts left running as they are.
    package var unchanged: Int
    /// Settings that changed but take effect at the next restart only.
    package var restartOnly: [String]
    /// Changes of where an account's secrets go (its endpoint or domain, its authority host, its
    /// credential type, a secret file, the CA bundle): a reload that has any is refused as a whole
    /// and the running config kept, so that a ConfigMap edit cannot redirect secrets in seconds;
    /// a restart applies them.
    package var destinationChanges: [String]

    /// The plan for going from `old` to `new` while the accounts in `running` have loops.
    /// - Parameter authorityHostVariable: `AZURE_AUTHORITY_HOST`, the authority of Entra
    ///   credentials that name none.
    package static func diff(
        from old: SidecarConfiguration, to new: SidecarConfiguration, running: Set<String>,
        authorityHostVariable: String? = nil
    )
        -> ReloadPlan
    {
        let restartAll = old.refresh != new.refresh || old.tls != new.tls
        let oldAccounts = Dictionary(old.accounts.map { ($0.name.value, $0) }, uniquingKeysWith: { first, _ in first })
        let newAccounts = Dictionary(new.accounts.map { ($0.name.value, $0) }, uniquingKeysWith: { first, _ in first })
        let stop = running.filter { name in
            restartAll || newAccounts[name] == nil || newAccounts[name] != oldAccounts[name]
        }
        .sorted()
        let stillRunning = running.subtracting(stop)
        let start = new.accounts.map(\.name.value).filter { !stillRunning.contains($0) }
        var restartOnly: [String] = []
        if old.server != new.server { restartOnly.append("server") }
        if old.refresh.maxConcurrent != new.refresh.maxConcurrent { restartOnly.append("refresh.maxConcurrent") }
        if old.proxy != new.proxy { restartOnly.append("proxy") }
        var destinationChanges: [String] = []
        if old.tls.caFile != new.tls.caFile { destinationChanges.append("tls.caFile") }
        if old.tls.systemRoots != new.tls.systemRoots { destinationChanges.append("tls.systemRoots") }
        let routes = Set(old.accounts.flatMap { Self.routesOutsideAzure($0, authorityHostVariable) })
        for account in new.accounts {
            guard let before = oldAccounts[account.name.value] else {
                // A new account (or a renamed one) may not open a new way out either.
                destinationChanges += Self.routesOutsideAzure(account, authorityHostVariable).filter {
                    !routes.contains($0)
                }.map {
                    "\(account.name) (new) sends \($0)"
                }
                continue
            }
            destinationChanges += Self.destinationChanges(from: before, to: account).map { "\(account.name).\($0)" }
        }
        return ReloadPlan(
            stop: stop, removed: stop.filter { newAccounts[$0] == nil }, start: start,
            added: start.filter { oldAccounts[$0] == nil }.count, unchanged: stillRunning.count,
            restartOnly: restartOnly, destinationChanges: destinationChanges)
    }

    /// The secret files the account sends to a host that is not one of the Azure clouds' own (one
    /// the operator allowed), as `<file> to <host>`. Secrets sent to Azure's hosts reach
    /// Microsoft only, whatever the file; those sent elsewhere are what a ConfigMap edit must not
    /// be able to add, under a new account name or not.
    static func routesOutsideAzure(_ account: AccountConfiguration, _ authorityHostVariable: String?) -> [String] {
        let credential = account.credential
        let azure = EgressPolicy()
        let host: String?
        if credential.type == .accountKey {
            let sts = account.endpoint.flatMap { URL(string: $0)?.host } ?? "sts.\(account.accountDomain)"
            host = azure.allowsSTS(sts) ? nil : sts
        } else {
            let authority = (credential.authorityHost ?? authorityHostVariable).flatMap { URL(string: $0)?.host }
            host = authority.flatMap { azure.allowsAuthority($0) ? nil : $0 }
        }
        guard let host else { return [] }
        return credential.secretFiles.map { "\($0.path) to \(host)" }
    }

    /// The keys of an account that say where its secrets go and changed.
    static func destinationChanges(from old: AccountConfiguration, to new: AccountConfiguration) -> [String] {
        zip(old.secretRoute, new.secretRoute).filter { $0.value != $1.value }.map(\.0.key)
    }

    /// How many of `start` were in the old config.
    package var changed: Int { start.count - added }
}
