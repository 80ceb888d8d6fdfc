/// Wakes a background loop at once when there is work, or after a timeout to sweep for leftovers.
actor WakeSignal {
    private var pending = false
    private var waiter: CheckedContinuation<Void, Never>?

    func signal() {
        if let waiter {
            self.waiter = nil
            waiter.resume()
        } else {
            pending = true
        }
    }

    /// Returns on the next signal (or at once if one came since the last wait), or after `timeout`.
    func wait(timeout: Duration) async {
        if pending {
            pending = false
            return
        }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.suspend() }
            group.addTask {
                try? await Task.sleep(for: timeout)
                await self.timeout()
            }
            await group.next()
            group.cancelAll()
            await self.timeout()  // resumes the waiter if cancellation, not a signal, ended the wait
        }
    }

    private func suspend() async {
        if pending {
            pending = false
            return
        }
        await withCheckedContinuation { waiter = $0 }
    }

    private func timeout() {
        if let waiter {
            self.waiter = nil
            waiter.resume()
        }
    }
}
