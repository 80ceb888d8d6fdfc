extension Dictionary {
    /// Keeps an in-memory table of recent clients bounded whatever the traffic: once it holds `limit` entries, those
    /// no longer `live` are dropped, and if all still are (a flood), all of them.
    mutating func makeRoom(limit: Int, keeping live: (Value) -> Bool) {
        guard count >= limit else { return }
        self = filter { live($0.value) }
        if count >= limit { removeAll() }
    }
}
