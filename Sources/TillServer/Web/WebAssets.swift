import Crypto
import Foundation
import NIOCore

/// One file of `Resources/`, held in memory with what a response needs.
struct WebAsset: Sendable {
    let body: ByteBuffer
    let contentType: String
    /// A strong validator: the first 16 bytes of the file's SHA-256, quoted.
    let etag: String

    init(bytes: [UInt8], contentType: String) {
        body = ByteBuffer(bytes: bytes)
        self.contentType = contentType
        etag = "\"" + SHA256.hash(data: bytes).prefix(16).map { String(format: "%02x", $0) }.joined() + "\""
    }
}

/// The pages, scripts, styles and the OpenAPI document: files under `Sources/TillServer/Resources`, bundled by
/// SwiftPM next to the executable (`till_TillServer.resources`), read once at startup and served from memory.
/// The token lives in the page's own origin (sessionStorage, which other origins cannot read) and goes out as an
/// `Authorization` header, which a cross-site form or image cannot send, so state-changing requests are not open to
/// cross-site forgery.
struct WebAssets: Sendable {
    let files: [String: WebAsset]

    static let contentTypes = [
        "html": "text/html; charset=utf-8", "js": "text/javascript; charset=utf-8", "css": "text/css; charset=utf-8",
        "json": "application/json", "png": "image/png", "svg": "image/svg+xml",
    ]

    /// Reads every file under `directory`, keyed by its path relative to it (`pages/storefront.html`).
    static func load(from directory: URL) throws -> WebAssets {
        let root = directory.standardizedFileURL.resolvingSymlinksInPath().path
        guard let walker = FileManager.default.enumerator(atPath: root) else {
            throw CocoaError(.fileReadNoSuchFile, userInfo: [NSFilePathErrorKey: root])
        }
        var files: [String: WebAsset] = [:]
        while let relative = walker.nextObject() as? String {
            let path = root + "/" + relative
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue,
                let type = contentTypes[(relative as NSString).pathExtension]
            else { continue }
            var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
            if type.hasPrefix("text/html") {
                bytes = Array(try expandIncludes(String(decoding: bytes, as: UTF8.self), root: root).utf8)
            }
            files[relative] = WebAsset(bytes: bytes, contentType: type)
        }
        return WebAssets(files: files)
    }

    /// Pages share their top and bottom through `<!--include partials/NAME.html key="value" ...-->` lines, replaced
    /// once at load by that file with each `{{key}}` filled in, so each page holds only what is its own.
    static func expandIncludes(_ page: String, root: String) throws -> String {
        var lines: [String] = []
        for line in page.split(separator: "\n", omittingEmptySubsequences: false) {
            guard line.hasPrefix("<!--include "), line.hasSuffix("-->") else {
                lines.append(String(line))
                continue
            }
            let directive = line.dropFirst("<!--include ".count).dropLast(3)
            let name = String(directive.prefix { $0 != " " })
            guard !name.contains(".."),
                var partial = try? String(contentsOfFile: root + "/pages/" + name, encoding: .utf8)
            else {
                throw CocoaError(.fileReadNoSuchFile, userInfo: [NSFilePathErrorKey: root + "/pages/" + name])
            }
            // key="value" pairs; a value may hold spaces.
            let quoted = directive.dropFirst(name.count).split(separator: "\"", omittingEmptySubsequences: false)
            for index in stride(from: 0, to: quoted.count - 1, by: 2) {
                let key = quoted[index].trimmingCharacters(in: .whitespaces).dropLast()  // the "="
                partial = partial.replacingOccurrences(of: "{{\(key)}}", with: String(quoted[index + 1]))
            }
            lines.append(partial.trimmingCharacters(in: .newlines))
        }
        return lines.joined(separator: "\n")
    }

    /// The files bundled with the executable. A missing bundle stops the server when it builds its router, at
    /// startup, with the place it looked.
    static let bundled: WebAssets = {
        guard let directory = Bundle.module.url(forResource: "Resources", withExtension: nil) else {
            fatalError("the web resources are missing from \(Bundle.module.bundlePath)")
        }
        do {
            return try load(from: directory)
        } catch {
            fatalError("could not read the web resources in \(directory.path): \(error)")
        }
    }()

    subscript(path: String) -> WebAsset {
        guard let asset = files[path] else { fatalError("\(path) is missing from the web resources") }
        return asset
    }
}
