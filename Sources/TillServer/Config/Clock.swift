import Foundation

/// The time source, passed in so tests can move time.
public struct TillClock: Sendable {
    public let nowMillis: @Sendable () -> Int

    public init(nowMillis: @escaping @Sendable () -> Int) {
        self.nowMillis = nowMillis
    }

    public static let system = TillClock { Int((Date().timeIntervalSince1970 * 1000).rounded(.down)) }
}

enum IDs {
    static func make() -> String { UUID().uuidString.lowercased() }
}

enum Timestamps {
    /// RFC 3339 in UTC with milliseconds.
    static func rfc3339(_ millis: Int) -> String {
        Date(timeIntervalSince1970: Double(millis) / 1000)
            .formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true, timeZone: .gmt))
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
