package storage

import (
	bolt "go.etcd.io/bbolt"
	"golang.org/x/sys/unix"
)

// dropMapped tells the kernel that the pages of the file mapped so far
// are not needed in this process any more. A streaming export or a check
// touches every page of a large file once; without this they all count in
// the process's resident set (a file-backed page stays mapped until the
// kernel needs it), and a 1M-order export would show hundreds of MB of
// RSS. bbolt maps the file read-only and shared, so dropped pages are
// read back from the page cache on the next access: nothing is lost.
func (db *DB) dropMapped() {
	db.mu.RLock()
	defer db.mu.RUnlock()
	if db.closed {
		return
	}
	_ = db.bolt.View(func(tx *bolt.Tx) error {
		dropPages(tx)
		return nil
	})
}

// dropPages is dropMapped for a caller inside a transaction, which keeps
// the mapping in place (bbolt remaps only with no transaction open).
func dropPages(tx *bolt.Tx) { pageDropper(tx)() }

// pageDropper returns dropPages for tx as a function another goroutine
// may call while, and only while, tx is open.
func pageDropper(tx *bolt.Tx) func() {
	size := uintptr(tx.Size())
	page := uintptr(unix.Getpagesize())
	size = (size + page - 1) &^ (page - 1)
	data := tx.DB().Info().Data
	return func() { _, _, _ = unix.Syscall(unix.SYS_MADVISE, data, size, unix.MADV_DONTNEED) }
}
