package import SidecarConfig

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

    /// The plan for going from `old` to `new` while the accounts in `running` have loops.
    package static func diff(
        from old: SidecarConfiguration, to new: SidecarConfiguration, running: Set<String>
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
        return ReloadPlan(
            stop: stop, removed: stop.filter { newAccounts[$0] == nil }, start: start,
            added: start.filter { oldAccounts[$0] == nil }.count, unchanged: stillRunning.count,
            restartOnly: restartOnly)
    }

    /// How many of `start` were in the old config.
    package var changed: Int { start.count - added }
}
