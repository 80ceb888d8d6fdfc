import Foundation

/// A lowercase ISO 4217 code that Stripe accepts as a presentment currency, with Stripe's rules for
/// amounts in its minor unit. Every amount check in Till goes through here.
public struct Currency: Hashable, Sendable, CustomStringConvertible {
    public let code: String

    /// Parses a code in any case; `nil` when Stripe does not support it.
    public init?(_ raw: String) {
        let code = raw.lowercased()
        guard Self.supported.contains(code) else { return nil }
        self.code = code
    }

    public var description: String { code }

    /// Every currency Stripe accepts, in code order (pages format amounts with their digits, from `GET /api/config`).
    public static var all: [Currency] { supported.sorted().compactMap(Currency.init) }

    /// Digits after the decimal point in the API's minor unit (what `amount` counts).
    public var minorUnitDigits: Int {
        if Self.zeroDecimal.contains(code) { return 0 }
        if Self.threeDecimal.contains(code) { return 3 }
        return 2
    }

    /// Stripe's granularity: three-decimal currencies must end in 0 (so they can settle in two decimals), and ISK,
    /// zero-decimal for customers but sent with two decimals for backwards compatibility, must be whole krónur.
    public var amountStep: Int {
        if Self.threeDecimal.contains(code) { return 10 }
        if code == "isk" { return 100 }
        return 1
    }

    /// Stripe's minimum charge, where Stripe publishes one for the currency; else one minor unit.
    public var minimumChargeAmount: Int { Self.minimumCharge[code] ?? amountStep }

    /// Stripe's maximum for a single amount (eight digits; twelve for IDR).
    public var maximumAmount: Int { code == "idr" ? 999_999_999_999 : 99_999_999 }

    static let zeroDecimal: Set<String> = [
        "bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv", "xaf", "xof", "xpf",
    ]
    static let threeDecimal: Set<String> = ["bhd", "jod", "kwd", "omr", "tnd"]

    static let minimumCharge: [String: Int] = [
        "usd": 50, "aed": 200, "aud": 50, "bgn": 100, "brl": 50, "cad": 50, "chf": 50, "czk": 1500, "dkk": 250,
        "eur": 50, "gbp": 30, "hkd": 400, "huf": 17500, "inr": 50, "jpy": 50, "mxn": 1000, "myr": 200, "nok": 300,
        "nzd": 50, "pln": 200, "ron": 200, "sek": 300, "sgd": 50, "thb": 1000,
    ]

    static let supported: Set<String> = zeroDecimal.union(threeDecimal).union([
        "usd", "aed", "afn", "all", "amd", "ang", "aoa", "ars", "aud", "awg", "azn", "bam", "bbd", "bdt", "bgn", "bmd",
        "bnd", "bob", "brl", "bsd", "bwp", "byn", "bzd", "cad", "cdf", "chf", "cny", "cop", "crc", "cve", "czk", "dkk",
        "dop", "dzd", "egp", "etb", "eur", "fjd", "fkp", "gbp", "gel", "gip", "gmd", "gtq", "gyd", "hkd", "hnl", "htg",
        "huf", "idr", "ils", "inr", "isk", "jmd", "kes", "kgs", "khr", "kyd", "kzt", "lak", "lbp", "lkr", "lrd", "lsl",
        "mad", "mdl", "mkd", "mmk", "mnt", "mop", "mur", "mvr", "mwk", "mxn", "myr", "mzn", "nad", "ngn", "nio", "nok",
        "npr", "nzd", "pab", "pen", "pgk", "php", "pkr", "pln", "qar", "ron", "rsd", "rub", "sar", "sbd", "scr", "sek",
        "sgd", "shp", "sle", "sos", "srd", "std", "szl", "thb", "tjs", "top", "try", "ttd", "twd", "tzs", "uah", "uyu",
        "uzs", "wst", "xcd", "yer", "zar", "zmw",
    ])
}
