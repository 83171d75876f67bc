//go:build !linux

package storage

import bolt "go.etcd.io/bbolt"

// dropMapped does nothing where madvise is not wired (posagent runs on Linux).
func (db *DB) dropMapped() {}

func dropPages(*bolt.Tx) {}

func pageDropper(*bolt.Tx) func() { return func() {} }
