import Synchronization

/// Registrations per client address in a fixed hourly window (`REGISTRATIONS_PER_ADDRESS_PER_HOUR`).
final class RegistrationLimiter: Sendable {
    let perHour: Int
    let maxEntries = 100_000
    private let windows = Mutex<[String: (start: Int, count: Int)]>([:])

    init(perHour: Int) {
        self.perHour = perHour
    }

    /// Counts one registration; `nil` when it may go ahead, else the milliseconds until the address's hour ends.
    func admit(address: String?, now: Int) -> Int? {
        guard perHour > 0 else { return nil }
        let hour = 3600 * 1000
        return windows.withLock { windows -> Int? in
            windows.makeRoom(limit: maxEntries) { now - $0.start < hour }
            let key = address ?? "-"
            var window = windows[key] ?? (now, 0)
            if now - window.start >= hour { window = (now, 0) }
            if window.count >= perHour { return window.start + hour - now }
            window.count += 1
            windows[key] = window
            return nil
        }
    }
}
