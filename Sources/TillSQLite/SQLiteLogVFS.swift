internal import CSQLite

#if canImport(Glibc)
    import Glibc
#endif

/// A VFS over SQLite's default one that writes a transaction's write-ahead log in a system call per 124 KiB instead
/// of two a page.
///
/// SQLite appends each page of a commit to the WAL with two `pwrite`s (a 24-byte frame header, then the page). A
/// settled webhook event dirties about seven pages, so its commit cost fourteen system calls, about a third of the
/// writer's CPU. Here the WAL's writes are gathered in memory while they are contiguous and handed to the OS when the
/// commit frame's page arrives (the frame header's "database size" field is non-zero only for a commit),
/// and before anything else touches the file: a read, a sync, a truncation, a size query, a file control, a lock,
/// closing, a write elsewhere, or more than `maxBuffered` bytes. So when SQLite's commit returns the log is in the
/// OS's cache exactly as without this VFS, and an acknowledged event still survives `kill -9`; other connections see
/// a commit only after SQLite updates the WAL index, which it does after these writes. Other files pass straight
/// through (every handle opens through this VFS; a connection that only reads the log never fills a buffer). This
/// relies on SQLite writing a frame's header and its page in two calls (`walWriteOneFrame`, 3.40 to 3.54);
/// SQLiteLogVFSTests reads each commit from a second connection, so a SQLite that changed it would fail them.
public enum SQLiteLogVFS {
    public static let name = "till-wal-gather"
    static let maxBuffered = 1 << 20
    /// The unix VFS writes at most 128 KiB a call (it masks the length with 0x1ffff).
    static let maxWrite = 0x1F000

    /// Registers the VFS (once); false if SQLite has no default VFS to wrap.
    public static let registered: Bool = {
        guard let base = sqlite3_vfs_find(nil) else { return false }
        baseVFS = base
        stateOffset = (Int(base.pointee.szOsFile) + 15) & ~15
        let vfs = UnsafeMutablePointer<sqlite3_vfs>.allocate(capacity: 1)
        vfs.initialize(to: base.pointee)
        vfs.pointee.pNext = nil
        vfs.pointee.szOsFile = Int32(stateOffset + MemoryLayout<FileState>.stride)
        vfs.pointee.zName = UnsafePointer(strdup(name))
        vfs.pointee.xOpen = open
        return sqlite3_vfs_register(vfs, 0) == SQLITE_OK
    }()

    nonisolated(unsafe) private static var baseVFS: UnsafeMutablePointer<sqlite3_vfs>!
    nonisolated(unsafe) private static var stateOffset = 0

    /// Lives after the base VFS's file structure, in the memory SQLite allocates for each open file.
    private struct FileState {
        var base: UnsafePointer<sqlite3_io_methods>
        var buffer: UnsafeMutableRawPointer?
        var start: Int64 = 0
        var count = 0
        /// The commit frame's header was just written: write everything out after its page.
        var flushAfterNextWrite = false
    }

    private static func state(_ file: UnsafeMutablePointer<sqlite3_file>?) -> UnsafeMutablePointer<FileState> {
        (UnsafeMutableRawPointer(file!) + stateOffset).assumingMemoryBound(to: FileState.self)
    }

    private static let open:
        @convention(c) (
            UnsafeMutablePointer<sqlite3_vfs>?, UnsafePointer<CChar>?, UnsafeMutablePointer<sqlite3_file>?, Int32,
            UnsafeMutablePointer<Int32>?
        ) -> Int32 = { _, path, file, flags, outFlags in
            let status = baseVFS.pointee.xOpen!(baseVFS, path, file, flags, outFlags)
            guard status == SQLITE_OK, flags & SQLITE_OPEN_WAL != 0, let file, let methods = file.pointee.pMethods
            else { return status }
            (UnsafeMutableRawPointer(file) + stateOffset).bindMemory(to: FileState.self, capacity: 1).initialize(
                to: FileState(base: methods))
            file.pointee.pMethods = UnsafePointer(logMethods)
            return status
        }

    /// Writes out what is gathered.
    private static func flush(_ file: UnsafeMutablePointer<sqlite3_file>?) -> Int32 {
        let s = state(file)
        var written = 0
        defer {
            s.pointee.count = 0
            s.pointee.flushAfterNextWrite = false
        }
        while written < s.pointee.count {
            let amount = min(s.pointee.count - written, maxWrite)
            let status = s.pointee.base.pointee.xWrite!(
                file, s.pointee.buffer! + written, Int32(amount), s.pointee.start + Int64(written))
            guard status == SQLITE_OK else { return status }
            written += amount
        }
        return SQLITE_OK
    }

    private static let write:
        @convention(c) (UnsafeMutablePointer<sqlite3_file>?, UnsafeRawPointer?, Int32, sqlite3_int64) -> Int32 = {
            file, bytes, amount, offset in
            let s = state(file)
            let amount = Int(amount)
            if s.pointee.count > 0,
                offset != s.pointee.start + Int64(s.pointee.count) || s.pointee.count + amount > maxBuffered
            {
                let status = flush(file)
                guard status == SQLITE_OK else { return status }
            }
            // SQLite writes the log a header or a page at a time (64 KiB at most), so a write always fits.
            guard amount <= maxBuffered else { return SQLITE_IOERR }
            if s.pointee.buffer == nil {
                s.pointee.buffer = UnsafeMutableRawPointer.allocate(byteCount: maxBuffered, alignment: 16)
            }
            if s.pointee.count == 0 { s.pointee.start = offset }
            s.pointee.buffer!.advanced(by: s.pointee.count).copyMemory(from: bytes!, byteCount: amount)
            s.pointee.count += amount
            if s.pointee.flushAfterNextWrite { return flush(file) }
            // A frame header (24 bytes, after the 32-byte log header) whose bytes 4-7, the database size, are non-zero
            // marks a commit; its page comes next.
            if amount == 24, offset >= 32 {
                let size = bytes!.loadUnaligned(fromByteOffset: 4, as: UInt32.self)
                s.pointee.flushAfterNextWrite = size != 0
            }
            return SQLITE_OK
        }

    private static let close: @convention(c) (UnsafeMutablePointer<sqlite3_file>?) -> Int32 = { file in
        let s = state(file)
        let flushed = flush(file)
        s.pointee.buffer?.deallocate()
        s.pointee.buffer = nil
        let closed = s.pointee.base.pointee.xClose!(file)
        return flushed != SQLITE_OK ? flushed : closed
    }

    /// The WAL's methods: writes gathered, everything else passed to the base file's methods after writing out
    /// what is gathered.
    nonisolated(unsafe) private static let logMethods: UnsafeMutablePointer<sqlite3_io_methods> = {
        var m = sqlite3_io_methods()
        m.iVersion = 3
        m.xClose = close
        m.xWrite = write
        m.xRead = { file, bytes, amount, offset in afterFlush(file) { base(file).xRead!(file, bytes, amount, offset) } }
        m.xTruncate = { file, size in afterFlush(file) { base(file).xTruncate!(file, size) } }
        m.xSync = { file, flags in afterFlush(file) { base(file).xSync!(file, flags) } }
        m.xFileSize = { file, size in afterFlush(file) { base(file).xFileSize!(file, size) } }
        m.xLock = { file, level in afterFlush(file) { base(file).xLock!(file, level) } }
        m.xUnlock = { file, level in afterFlush(file) { base(file).xUnlock!(file, level) } }
        m.xFileControl = { file, op, argument in afterFlush(file) { base(file).xFileControl!(file, op, argument) } }
        m.xCheckReservedLock = { file, result in base(file).xCheckReservedLock!(file, result) }
        m.xSectorSize = { file in base(file).xSectorSize!(file) }
        m.xDeviceCharacteristics = { file in base(file).xDeviceCharacteristics!(file) }
        m.xShmMap = { file, page, size, extend, pointer in
            base(file).xShmMap?(file, page, size, extend, pointer) ?? SQLITE_IOERR
        }
        m.xShmLock = { file, offset, n, flags in base(file).xShmLock?(file, offset, n, flags) ?? SQLITE_IOERR }
        m.xShmBarrier = { file in base(file).xShmBarrier?(file) }
        m.xShmUnmap = { file, delete in base(file).xShmUnmap?(file, delete) ?? SQLITE_OK }
        m.xFetch = { file, offset, amount, pointer in
            guard let fetch = base(file).xFetch else {
                pointer?.pointee = nil
                return SQLITE_OK
            }
            return afterFlush(file) { fetch(file, offset, amount, pointer) }
        }
        m.xUnfetch = { file, offset, pointer in base(file).xUnfetch?(file, offset, pointer) ?? SQLITE_OK }
        let methods = UnsafeMutablePointer<sqlite3_io_methods>.allocate(capacity: 1)
        methods.initialize(to: m)
        return methods
    }()

    private static func base(_ file: UnsafeMutablePointer<sqlite3_file>?) -> sqlite3_io_methods {
        state(file).pointee.base.pointee
    }

    /// Writes out what is gathered, then (if that worked) runs `method`.
    private static func afterFlush(_ file: UnsafeMutablePointer<sqlite3_file>?, _ method: () -> Int32) -> Int32 {
        let status = flush(file)
        return status != SQLITE_OK ? status : method()
    }
}
