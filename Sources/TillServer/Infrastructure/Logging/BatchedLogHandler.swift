import Foundation
import Logging
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Log lines handed over by many threads and written in batches by a thread of its own.
///
/// `append` takes a mutex only to copy the line's bytes into a buffer; the writer thread swaps the buffer out and
/// writes it with one call of the sink. A caller never waits for the sink: when the buffer already holds `capacity`
/// bytes (the sink stalled or cannot keep up), the line is dropped and counted, and the writer reports how many
/// were dropped once it can write again.
public final class LogWriter: Sendable {
    /// Writes all the bytes, or gives up on them (a failed write of a log is not retried).
    public typealias Sink = @Sendable (UnsafeRawBufferPointer) -> Void

    private struct State {
        var buffer: [UInt8] = []
        var spare: [UInt8] = []
        var dropped = 0
        var writing = false
        var closed = false
    }

    private let state = Mutex(State())
    private let wake = DispatchSemaphore(value: 0)
    private let sink: Sink
    private let capacity: Int
    private let droppedTotal = Atomic<Int>(0)
    /// The writer's pause after each batch: at most this much delay for a line, and a few hundred batches a second.
    static let pauseMicroseconds: UInt32 = 2000

    /// `capacity`: bytes waiting for the sink beyond which lines are dropped (at least 4 KiB).
    public init(capacity: Int = 4 << 20, sink: @escaping Sink) {
        self.capacity = max(capacity, 4096)
        self.sink = sink
        let thread = Thread { [self] in self.run() }
        thread.name = "till-log-writer"
        thread.start()
    }

    /// Standard output (file descriptor 1), written with `write(2)`.
    public static func standardOutput(capacity: Int = 4 << 20) -> LogWriter {
        LogWriter(capacity: capacity, sink: Self.fileDescriptorSink(1))
    }

    /// A sink that writes to `fd`, going on after partial writes; an error gives up on the batch.
    public static func fileDescriptorSink(_ fd: Int32) -> Sink {
        { bytes in
            guard var base = bytes.baseAddress else { return }
            var left = bytes.count
            while left > 0 {
                let written = write(fd, base, left)
                if written < 0 {
                    if errno == EINTR { continue }
                    return
                }
                left -= written
                base += written
            }
        }
    }

    /// Lines dropped so far because the sink did not keep up.
    public var dropped: Int { droppedTotal.load(ordering: .relaxed) }

    /// Queues one line (which should end with a newline); never blocks on the sink.
    public func append(_ line: some Collection<UInt8>) {
        let signal = state.withLock { state -> Bool in
            guard !state.closed, state.buffer.count + line.count <= capacity else {
                state.dropped += 1
                return false
            }
            let wasIdle = state.buffer.isEmpty
            state.buffer.append(contentsOf: line)
            return wasIdle
        }
        if signal { wake.signal() }
    }

    /// Writes what is queued and ends the writer thread; later lines are dropped.
    public func close() {
        state.withLock { $0.closed = true }
        wake.signal()
    }

    /// Waits (up to `timeout`) until every queued line has reached the sink: for the end of the process.
    public func flush(timeout: Duration = .seconds(2)) {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if state.withLock({ $0.buffer.isEmpty && !$0.writing }) { return }
            wake.signal()
            usleep(1000)
        }
    }

    private func run() {
        while true {
            wake.wait()
            var batch: [UInt8] = []
            let (dropped, closed) = state.withLock { state -> (Int, Bool) in
                swap(&batch, &state.buffer)
                state.buffer = state.spare
                state.spare = []
                let dropped = state.dropped
                state.dropped = 0
                state.writing = !batch.isEmpty || dropped > 0
                return (dropped, state.closed)
            }
            let wrote = !batch.isEmpty
            if wrote { batch.withUnsafeBytes { sink($0) } }
            if dropped > 0 {
                droppedTotal.add(dropped, ordering: .relaxed)
                let note =
                    "\(LogFormat.timestamp()) warning till : [TillServer] log: dropped \(dropped) lines (the output did not keep up)\n"
                Array(note.utf8).withUnsafeBytes { sink($0) }
            }
            batch.removeAll(keepingCapacity: true)
            state.withLock { state in
                if state.spare.capacity < batch.capacity { state.spare = batch }
                state.writing = false
            }
            if closed { return }
            // A pause before the next batch: lines meanwhile gather in the buffer, and since only a line into an
            // empty buffer wakes the writer, callers make far fewer wake-up calls (one a batch, not one a line).
            if wrote { usleep(Self.pauseMicroseconds) }
        }
    }
}

/// A swift-log handler that formats a line on the caller's thread, as swift-log's `StreamLogHandler` does
/// (`<time> <level> <label> : <metadata> [<source>] <message>`, the time in UTC), and hands it to a `LogWriter`.
public struct BatchedLogHandler: LogHandler {
    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    private let label: String
    private let writer: LogWriter

    public init(
        label: String, writer: LogWriter, level: Logger.Level = .info, metadataProvider: Logger.MetadataProvider? = nil
    ) {
        self.label = label
        self.writer = writer
        self.logLevel = level
        self.metadataProvider = metadataProvider
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        // Bytes rather than a String: appending to a String checks and updates its UTF-8 bookkeeping at every
        // piece, which was most of the cost of a line.
        var line: [UInt8] = []
        line.reserveCapacity(256)
        LogFormat.timestamp(into: &line)
        line.append(UInt8(ascii: " "))
        line.append(contentsOf: event.level.rawValue.utf8)
        line.append(UInt8(ascii: " "))
        line.append(contentsOf: label.utf8)
        line.append(contentsOf: " :".utf8)
        // The handler's, the provider's and the call's metadata (a later one wins a key), in key order: a few
        // pairs in an array, where merging dictionaries hashed and allocated for every line.
        var pairs: [(key: String, value: Logger.Metadata.Value)] = []
        pairs.reserveCapacity(metadata.count + (event.metadata?.count ?? 0) + 2)
        func add(_ source: Logger.Metadata) {
            for (key, value) in source {
                if let index = pairs.firstIndex(where: { $0.key == key }) {
                    pairs[index].value = value
                } else {
                    pairs.append((key, value))
                }
            }
        }
        add(metadata)
        if let provided = metadataProvider?.get() { add(provided) }
        if let extra = event.metadata { add(extra) }
        pairs.sort { $0.key < $1.key }
        for (key, value) in pairs {
            line.append(UInt8(ascii: " "))
            LogFormat.appendEscaped(key, to: &line)
            line.append(UInt8(ascii: "="))
            if case .string(let text) = value {
                LogFormat.appendEscaped(text, to: &line)
            } else {
                LogFormat.appendEscaped(value.description, to: &line)
            }
        }
        line.append(contentsOf: " [".utf8)
        line.append(contentsOf: event.source.utf8)
        line.append(contentsOf: "] ".utf8)
        line.append(contentsOf: event.message.description.utf8)
        line.append(UInt8(ascii: "\n"))
        writer.append(line)
    }
}

enum LogFormat {
    /// A metadata key or value, which may come from a request (a webhook event's id, an error's text), with its
    /// control characters escaped (`\n`, `\r`, `\t`, `\u{1b}`...), so that no value can start a forged line or put
    /// bytes a terminal or `grep` trips on into the log.
    static func appendEscaped(_ text: String, to line: inout [UInt8]) {
        var text = text
        // The string's own bytes, scanned and copied in one piece when there is nothing to escape (scanning its
        // `utf8` view was the hottest frame of formatting a line).
        text.withUTF8 { bytes in
            guard bytes.contains(where: { $0 < 0x20 || $0 == 0x7F }) else {
                line.append(contentsOf: bytes)
                return
            }
            for byte in bytes {
                switch byte {
                case UInt8(ascii: "\n"): line.append(contentsOf: #"\n"#.utf8)
                case UInt8(ascii: "\r"): line.append(contentsOf: #"\r"#.utf8)
                case UInt8(ascii: "\t"): line.append(contentsOf: #"\t"#.utf8)
                case 0..<0x20, 0x7F:
                    line.append(contentsOf: #"\u{"#.utf8)
                    line.append(contentsOf: String(byte, radix: 16).utf8)
                    line.append(UInt8(ascii: "}"))
                default: line.append(byte)
                }
            }
        }
    }

    /// `2026-12-04T17:40:01.123Z`, built from digits without a formatter.
    static func timestamp() -> String {
        var out: [UInt8] = []
        timestamp(into: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends the time now as `timestamp()` writes it.
    static func timestamp(into out: inout [UInt8]) {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var seconds = now.tv_sec
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func digits(_ value: Int, _ count: Int) {
            var divisor = 1
            for _ in 1..<count { divisor *= 10 }
            var value = value
            while divisor > 0 {
                out.append(UInt8(ascii: "0") + UInt8(value / divisor % 10))
                value %= divisor
                divisor /= 10
            }
        }
        digits(Int(parts.tm_year) + 1900, 4)
        out.append(UInt8(ascii: "-"))
        digits(Int(parts.tm_mon) + 1, 2)
        out.append(UInt8(ascii: "-"))
        digits(Int(parts.tm_mday), 2)
        out.append(UInt8(ascii: "T"))
        digits(Int(parts.tm_hour), 2)
        out.append(UInt8(ascii: ":"))
        digits(Int(parts.tm_min), 2)
        out.append(UInt8(ascii: ":"))
        digits(Int(parts.tm_sec), 2)
        out.append(UInt8(ascii: "."))
        digits(Int(now.tv_nsec) / 1_000_000, 3)
        out.append(UInt8(ascii: "Z"))
    }
}
