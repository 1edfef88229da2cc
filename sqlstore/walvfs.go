package sqlstore

import (
	"errors"
	"sync"
	"sync/atomic"
	"unsafe"

	"modernc.org/libc"
	sqlite3 "modernc.org/sqlite/lib"
)

// SQLite appends each page a commit changed to its log as two writes: the
// frame's 24-byte header, then the page. A commit of the writer's batches
// changes 60 to 100 pages, so it made 120 to 200 write system calls, each
// with the cost of entering the kernel and, through modernc's C library, of
// the Go runtime's system-call bookkeeping. The "handoff" VFS is SQLite's
// own (unix) with the log's writes gathered: writes to a log file that
// follow each other are kept in a buffer and written as one (at most 128 KiB,
// the most unix writes at once) before anything else touches the file: a
// read, a sync, a truncation, a size, a file control or closing it.
//
// Nothing is less durable, and no other connection reads what is only in a
// buffer, because of two settings every connection has (sqliteParams):
//   - synchronous=FULL: SQLite syncs the log at every commit before it
//     publishes the commit to other connections (and before the commit is
//     acknowledged), and the buffer is written before that sync. What a
//     crash loses from a buffer was never synced: SQLite's recovery drops
//     it as it would a write the kernel had not done.
//   - cache_spill(0): a transaction's pages go to the log only when it
//     commits, never early because its cache is full. So a buffer holds
//     pages only between a commit's first write and its sync, while the
//     connection holds the log's write lock; a transaction that rolls back
//     wrote nothing to the log, and nothing is left in a buffer that a
//     later write could put over another connection's (or process's)
//     commit.
// For the same reason a buffer that fails to be written fails its commit
// (SQLite then rolls the whole transaction back), never a statement that
// could be undone alone: the buffer is written only within a commit, at its
// sync or when it is full, and dropped when that fails.
// A log whose file system does not promise that writing a page leaves its
// neighbours alone (SQLITE_IOCAP_POWERSAFE_OVERWRITE, which unix promises
// by default) is written through: SQLite then pads commits after syncing.
// The database file, its shared memory and every other file are unix's
// own, untouched.
//
// On a 10,000-parcel load-test day it cost 7 % less CPU per parcel than
// unix alone (2.52 against 2.72 ms, three interleaved runs each; commits
// and planning, loading and code checks 9–14 % less each).

// walVFSName is the VFS's name, for the vfs= parameter of the DSN.
const walVFSName = "handoff"

// walHdr is what a log's sqlite3_file holds before unix's file: our
// methods. The rest of a log file's state is in walFiles.
const walHdr = 16

// walBufSize bounds a gathered write: unix's seekAndWriteFd writes at most
// 0x1ffff bytes at once (a longer write is cut, and a multiple of 128 KiB
// would write nothing).
const walBufSize = 0x1ffff

// walFile is a log file opened through the VFS.
type walFile struct {
	name string  // the log file's path
	real uintptr // unix's sqlite3_file, walHdr bytes into ours
	buf  uintptr // walBufSize bytes of C memory
	off  int64   // where buf's bytes go in the file
	n    int32   // bytes in buf
	// through: every write goes straight to unix (no powersafe overwrite)
	through bool
}

var (
	walOnce    sync.Once
	walErr     error
	unixVFS    uintptr // the default VFS the log's VFS wraps
	walMethods uintptr // the log files' sqlite3_io_methods
	walMu      sync.Mutex
	walFiles   = map[uintptr]*walFile{} // by our sqlite3_file
	// walWrites counts the writes handed to unix for the logs, walFrames
	// the writes SQLite made (tests compare them).
	walWrites, walFrames atomic.Int64
)

// cfunc is the Go function a C function pointer of modernc's SQLite holds.
func cfunc[F any](fp uintptr) F { return *(*F)(unsafe.Pointer(&struct{ uintptr }{fp})) }

// cmem is the C memory of modernc's SQLite at p, as a T. C memory never
// moves and is never collected, which vet cannot know of a uintptr.
func cmem[T any](p uintptr) *T { return (*T)(*(*unsafe.Pointer)(unsafe.Pointer(&p))) }

// fnPtr is the C function pointer of a Go function, for modernc's SQLite.
func fnPtr[F any](f F) uintptr { return *(*uintptr)(unsafe.Pointer(&f)) }

// registerWALVFS registers the "handoff" VFS, once per process.
func registerWALVFS() error {
	walOnce.Do(func() {
		tls := libc.NewTLS() // kept: the VFS lives as long as the process
		unixVFS = sqlite3.Xsqlite3_vfs_find(tls, 0)
		if unixVFS == 0 {
			walErr = errors.New("sqlite: no default VFS")
			return
		}
		unix := cmem[sqlite3.Tsqlite3_vfs](unixVFS)
		p := libc.Xmalloc(tls, uint64(unsafe.Sizeof(sqlite3.Tsqlite3_vfs{})))
		m := libc.Xmalloc(tls, uint64(unsafe.Sizeof(sqlite3.Tsqlite3_io_methods{})))
		name, err := libc.CString(walVFSName)
		if p == 0 || m == 0 || err != nil {
			walErr = errors.New("sqlite: out of memory")
			return
		}
		v := cmem[sqlite3.Tsqlite3_vfs](p)
		*v = *unix // everything but opening files is unix's own
		v.FszOsFile = unix.FszOsFile + walHdr
		v.FpNext = 0
		v.FzName = name
		v.FxOpen = fnPtr(walOpen)
		*cmem[sqlite3.Tsqlite3_io_methods](m) = sqlite3.Tsqlite3_io_methods{
			FiVersion:               1, // a log is never mapped and has no shared memory of its own
			FxClose:                 fnPtr(walClose),
			FxRead:                  fnPtr(walRead),
			FxWrite:                 fnPtr(walWrite),
			FxTruncate:              fnPtr(walTruncate),
			FxSync:                  fnPtr(walSync),
			FxFileSize:              fnPtr(walFileSize),
			FxLock:                  fnPtr(walLock),
			FxUnlock:                fnPtr(walUnlock),
			FxCheckReservedLock:     fnPtr(walCheckReservedLock),
			FxFileControl:           fnPtr(walFileControl),
			FxSectorSize:            fnPtr(walSectorSize),
			FxDeviceCharacteristics: fnPtr(walDeviceCharacteristics),
		}
		walMethods = m
		if rc := sqlite3.Xsqlite3_vfs_register(tls, p, 0); rc != sqlite3.SQLITE_OK {
			walErr = errors.New("sqlite: registering the log's VFS failed")
		}
	})
	return walErr
}

// walOpen opens a file with unix; a log file inside ours, with our methods.
func walOpen(tls *libc.TLS, _ uintptr, zName uintptr, pFile uintptr, flags int32, pOutFlags uintptr) int32 {
	open := cfunc[func(*libc.TLS, uintptr, uintptr, uintptr, int32, uintptr) int32](cmem[sqlite3.Tsqlite3_vfs](unixVFS).FxOpen)
	if flags&sqlite3.SQLITE_OPEN_WAL == 0 {
		return open(tls, unixVFS, zName, pFile, flags, pOutFlags)
	}
	file := cmem[sqlite3.Tsqlite3_file](pFile)
	file.FpMethods = 0 // SQLite closes nothing that failed to open
	f := &walFile{name: libc.GoString(zName), real: pFile + walHdr}
	if f.buf = libc.Xmalloc(tls, walBufSize); f.buf == 0 {
		return sqlite3.SQLITE_NOMEM
	}
	if rc := open(tls, unixVFS, zName, f.real, flags, pOutFlags); rc != sqlite3.SQLITE_OK {
		libc.Xfree(tls, f.buf)
		return rc
	}
	m := cmem[sqlite3.Tsqlite3_io_methods](cmem[sqlite3.Tsqlite3_file](f.real).FpMethods)
	dc := cfunc[func(*libc.TLS, uintptr) int32](m.FxDeviceCharacteristics)(tls, f.real)
	f.through = dc&sqlite3.SQLITE_IOCAP_POWERSAFE_OVERWRITE == 0
	walMu.Lock()
	walFiles[pFile] = f
	walMu.Unlock()
	file.FpMethods = walMethods
	return sqlite3.SQLITE_OK
}

// logFile is the log file of pFile, and unix's methods for it.
func logFile(pFile uintptr) (*walFile, *sqlite3.Tsqlite3_io_methods) {
	walMu.Lock()
	f := walFiles[pFile]
	walMu.Unlock()
	return f, cmem[sqlite3.Tsqlite3_io_methods](cmem[sqlite3.Tsqlite3_file](f.real).FpMethods)
}

// flush writes what the buffer holds.
func (f *walFile) flush(tls *libc.TLS, m *sqlite3.Tsqlite3_io_methods) int32 {
	if f.n == 0 {
		return sqlite3.SQLITE_OK
	}
	n := f.n
	f.n = 0
	walWrites.Add(1)
	return cfunc[func(*libc.TLS, uintptr, uintptr, int32, int64) int32](m.FxWrite)(tls, f.real, f.buf, n, f.off)
}

// Reading, truncating, syncing, sizing or controlling a log file first
// writes what its buffer holds.

func walWrite(tls *libc.TLS, pFile uintptr, zBuf uintptr, iAmt int32, iOfst int64) int32 {
	walFrames.Add(1)
	f, m := logFile(pFile)
	if f.n > 0 && iOfst == f.off+int64(f.n) && f.n+iAmt <= walBufSize {
		libc.Xmemcpy(tls, f.buf+uintptr(f.n), zBuf, uint64(iAmt))
		f.n += iAmt
		return sqlite3.SQLITE_OK
	}
	if rc := f.flush(tls, m); rc != sqlite3.SQLITE_OK {
		return rc
	}
	if iAmt > walBufSize || f.through {
		walWrites.Add(1)
		return cfunc[func(*libc.TLS, uintptr, uintptr, int32, int64) int32](m.FxWrite)(tls, f.real, zBuf, iAmt, iOfst)
	}
	libc.Xmemcpy(tls, f.buf, zBuf, uint64(iAmt))
	f.off, f.n = iOfst, iAmt
	return sqlite3.SQLITE_OK
}

func walClose(tls *libc.TLS, pFile uintptr) int32 {
	f, m := logFile(pFile)
	rc := f.flush(tls, m)
	if rc2 := cfunc[func(*libc.TLS, uintptr) int32](m.FxClose)(tls, f.real); rc == sqlite3.SQLITE_OK {
		rc = rc2
	}
	walMu.Lock()
	delete(walFiles, pFile)
	walMu.Unlock()
	libc.Xfree(tls, f.buf)
	return rc
}

func walRead(tls *libc.TLS, pFile uintptr, zBuf uintptr, iAmt int32, iOfst int64) int32 {
	f, m := logFile(pFile)
	if rc := f.flush(tls, m); rc != sqlite3.SQLITE_OK {
		return rc
	}
	return cfunc[func(*libc.TLS, uintptr, uintptr, int32, int64) int32](m.FxRead)(tls, f.real, zBuf, iAmt, iOfst)
}

func walTruncate(tls *libc.TLS, pFile uintptr, size int64) int32 {
	f, m := logFile(pFile)
	if rc := f.flush(tls, m); rc != sqlite3.SQLITE_OK {
		return rc
	}
	return cfunc[func(*libc.TLS, uintptr, int64) int32](m.FxTruncate)(tls, f.real, size)
}

func walSync(tls *libc.TLS, pFile uintptr, flags int32) int32 {
	f, m := logFile(pFile)
	if rc := f.flush(tls, m); rc != sqlite3.SQLITE_OK {
		return rc
	}
	return cfunc[func(*libc.TLS, uintptr, int32) int32](m.FxSync)(tls, f.real, flags)
}

func walFileSize(tls *libc.TLS, pFile uintptr, pSize uintptr) int32 {
	f, m := logFile(pFile)
	if rc := f.flush(tls, m); rc != sqlite3.SQLITE_OK {
		return rc
	}
	return cfunc[func(*libc.TLS, uintptr, uintptr) int32](m.FxFileSize)(tls, f.real, pSize)
}

func walFileControl(tls *libc.TLS, pFile uintptr, op int32, pArg uintptr) int32 {
	f, m := logFile(pFile)
	if rc := f.flush(tls, m); rc != sqlite3.SQLITE_OK {
		return rc
	}
	return cfunc[func(*libc.TLS, uintptr, int32, uintptr) int32](m.FxFileControl)(tls, f.real, op, pArg)
}

// The rest touch no bytes of the file.

func walLock(tls *libc.TLS, pFile uintptr, lock int32) int32 {
	f, m := logFile(pFile)
	return cfunc[func(*libc.TLS, uintptr, int32) int32](m.FxLock)(tls, f.real, lock)
}

func walUnlock(tls *libc.TLS, pFile uintptr, lock int32) int32 {
	f, m := logFile(pFile)
	return cfunc[func(*libc.TLS, uintptr, int32) int32](m.FxUnlock)(tls, f.real, lock)
}

func walCheckReservedLock(tls *libc.TLS, pFile uintptr, pResOut uintptr) int32 {
	f, m := logFile(pFile)
	return cfunc[func(*libc.TLS, uintptr, uintptr) int32](m.FxCheckReservedLock)(tls, f.real, pResOut)
}

func walSectorSize(tls *libc.TLS, pFile uintptr) int32 {
	f, m := logFile(pFile)
	return cfunc[func(*libc.TLS, uintptr) int32](m.FxSectorSize)(tls, f.real)
}

func walDeviceCharacteristics(tls *libc.TLS, pFile uintptr) int32 {
	f, m := logFile(pFile)
	return cfunc[func(*libc.TLS, uintptr) int32](m.FxDeviceCharacteristics)(tls, f.real)
}
