import Dispatch
import Foundation
import Logging
import Synchronization
import Testing

@_spi(Bench) @testable import TillServer

/// What a sink received, for the tests to read.
final class CollectedBytes: Sendable {
    let bytes = Mutex<[UInt8]>([])

    var lines: [String] {
        bytes.withLock { String(decoding: $0, as: UTF8.self) }.split(separator: "\n", omittingEmptySubsequences: false)
            .dropLast().map(String.init)
    }

    func sink(_ buffer: UnsafeRawBufferPointer) {
        bytes.withLock { $0.append(contentsOf: buffer) }
    }
}

@Suite("The access log's writer")
struct LogWriterTests {
    @Test("lines from several threads arrive whole, each thread's in order, none lost")
    func wholeAndInOrder() async throws {
        let collected = CollectedBytes()
        let writer = LogWriter(capacity: 64 << 20, sink: { collected.sink($0) })
        let threads = 4
        let perThread = 2000
        await withTaskGroup(of: Void.self) { group in
            for thread in 0..<threads {
                group.addTask {
                    for n in 0..<perThread {
                        writer.append("thread=\(thread) n=\(n) \(String(repeating: "x", count: n % 97))\n".utf8)
                    }
                }
            }
        }
        writer.flush(timeout: .seconds(30))
        writer.close()
        let lines = collected.lines
        #expect(lines.count == threads * perThread)
        #expect(writer.dropped == 0)
        var next = Array(repeating: 0, count: threads)
        for line in lines {
            let fields = line.split(separator: " ", omittingEmptySubsequences: false)
            guard fields.count == 3, let thread = Int(fields[0].dropFirst(7)), let n = Int(fields[1].dropFirst(2)),
                (0..<threads).contains(thread)
            else {
                Issue.record("a line arrived broken: \(line)")
                return
            }
            #expect(n == next[thread], "thread \(thread)'s lines out of order")
            #expect(fields[2] == String(repeating: "x", count: n % 97)[...])
            next[thread] = n + 1
        }
    }

    @Test("a stalled sink makes lines drop, counted, instead of blocking the caller; the count is reported after")
    func stalledSinkDrops() async throws {
        let collected = CollectedBytes()
        let stall = DispatchSemaphore(value: 0)
        let stalled = Atomic<Bool>(true)
        let writer = LogWriter(
            capacity: 4096,
            sink: { bytes in
                if stalled.load(ordering: .relaxed) { stall.wait() }
                collected.sink(bytes)
            })
        let total = 10_000
        let line = String(repeating: "y", count: 99) + "\n"
        // With the sink stalled, this returns (it would hang if appending waited for the sink).
        for _ in 0..<total { writer.append(line.utf8) }
        let droppedWhileStalled = total - 4096 / 100 - 1
        stalled.store(false, ordering: .relaxed)
        stall.signal()
        writer.flush(timeout: .seconds(30))
        writer.close()
        let lines = collected.lines
        let written = lines.filter { $0 == String(line.dropLast()) }.count
        #expect(writer.dropped >= droppedWhileStalled - 100)
        #expect(written + writer.dropped == total)
        // The drops are reported once the sink takes lines again (in one note, or more when the writer woke while
        // the caller was still appending): the notes add up to the count.
        let reported = lines.compactMap { line -> Int? in
            guard let range = line.range(of: "log: dropped ") else { return nil }
            return Int(line[range.upperBound...].prefix { $0.isNumber })
        }
        #expect(!reported.isEmpty)
        #expect(reported.reduce(0, +) == writer.dropped)
    }

    @Test("the handler formats as StreamLogHandler does: time, level, label, sorted metadata, source, message")
    func format() async throws {
        let collected = CollectedBytes()
        let writer = LogWriter(sink: { collected.sink($0) })
        var logger = Logger(label: "till") { label in BatchedLogHandler(label: label, writer: writer, level: .info) }
        logger[metadataKey: "request.id"] = "r1"
        logger.debug("not written")
        logger.info("request", metadata: ["http.status": "200", "http.method": "GET"])
        logger.info("again", metadata: ["request.id": "r2", "n": .stringConvertible(42)])
        writer.flush(timeout: .seconds(30))
        writer.close()
        let lines = collected.lines
        #expect(lines.count == 2)
        let line = lines.first ?? ""
        #expect(line.hasSuffix(" info till : http.method=GET http.status=200 request.id=r1 [TillServerTests] request"))
        #expect(line.count > 24 && line.dropFirst(23).hasPrefix("Z "))
        // A call's value for a key the logger has wins, once.
        #expect(lines.last?.hasSuffix(" info till : n=42 request.id=r2 [TillServerTests] again") == true, "\(lines)")
    }

    @Test("a value with control characters (a webhook event's id) stays on its line, escaped")
    func controlCharacters() async throws {
        let collected = CollectedBytes()
        let writer = LogWriter(sink: { collected.sink($0) })
        let logger = Logger(label: "till") { label in BatchedLogHandler(label: label, writer: writer, level: .info) }
        let forged = "evt_1\n2026-12-07T00:00:00.000Z error forged\0\u{1b}[2J\té"
        logger.info("stored", metadata: ["stripe.event_id": "\(forged)"])
        writer.flush(timeout: .seconds(30))
        writer.close()
        let lines = collected.lines
        #expect(lines.count == 1)
        #expect(
            lines.first?.hasSuffix(
                #" info till : stripe.event_id=evt_1\n2026-12-07T00:00:00.000Z error forged\u{0}\u{1b}[2J\té [TillServerTests] stored"#
            ) == true, "\(lines)")
    }
}
