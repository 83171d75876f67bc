//go:build !linux

package storage

// dropMapped does nothing where madvise is not wired (posagent runs on Linux).
func (db *DB) dropMapped() {}
