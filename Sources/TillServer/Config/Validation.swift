import Foundation

/// Input rules shared by the API and the configuration.
enum Validation {
    /// An email as accounts are keyed by it: trimmed, lowercased, and in Unicode's composed form (NFC), so that
    /// "josé" typed with a combining accent and with "é" is one account, not two.
    static func normalizedEmail(_ raw: String) -> String {
        raw.trimmingCharacters(in: .whitespaces).lowercased().precomposedStringWithCanonicalMapping
    }

    static func emailProblem(_ email: String) -> String? {
        let parts = email.split(separator: "@", omittingEmptySubsequences: false)
        guard email.count <= 254, parts.count == 2, !parts[0].isEmpty, parts[1].contains("."),
            !parts[1].hasPrefix("."), !parts[1].hasSuffix("."),
            !email.contains(where: { $0.isWhitespace || $0.isNewline })
        else { return "must be a valid email address" }
        return nil
    }

    static func passwordProblem(_ password: String) -> String? {
        if password.count < 8 { return "must be at least 8 characters" }
        // bcrypt stops at a NUL byte, so everything after one would be ignored.
        if password.utf8.contains(0) { return "must not contain a NUL character" }
        // bcrypt reads only the first 72 bytes; refusing longer keeps every byte meaningful.
        if password.utf8.count > 72 { return "must be at most 72 bytes" }
        return nil
    }
}
