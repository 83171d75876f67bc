// Package storage keeps posagent's durable state in one bbolt file: orders,
// the index of orders that are not final yet, the terminal credentials, the
// per-device client_sn counter and the check-in history.
//
// Why it is shaped like this:
//
//   - The sale engine writes an order before it talks to the gateway
//     (docs: "write first"). Every state change is therefore one
//     db.Update transaction, which bbolt commits with two fsyncs (data pages,
//     then the meta page). NoSync is never set. DB.Commits counts commits so
//     the engine's benchmarks can show how many fsyncs a sale costs.
//
//   - A payment terminal must never forget an order nor silently start from
//     scratch. Open runs bbolt's Tx.Check plus our own index check. A file
//     that fails the page-level check is renamed to
//     "<path>.corrupt-<UTC timestamp>", logged with slog.Error and reported
//     as *CorruptError; Open does not create a fresh file in that call. The
//     next Open creates an empty database, which has no credentials, so the
//     agent cannot sell until it is provisioned again (or the old file is
//     restored by hand). Derived data (the pending and by-time indexes and
//     the counter floor) is rebuilt in a logged transaction instead.
//
//   - Values are JSON, so a file can be read with `bbolt get` during an
//     incident and unknown fields from a newer version are tolerated.
//     Keys: orders by client_sn; the pending index by big-endian Seq;
//     the time index by big-endian created-at nanoseconds + Seq.
//
//   - The schema has a version in the "meta" bucket and an ordered list of
//     forward migrations, all run in one transaction on Open.
//
//   - The file holds the terminal key, so it is created 0600 (its directory
//     0700 when Open creates it) and Credentials never prints the key.
//
// Pitfalls this package guards against (see shared/spec/field-notes.md):
// bbolt.Open blocks forever on a held lock without Options.Timeout; a
// truncated file makes bbolt fault on mmap'd pages beyond the end of the
// file (SIGBUS), so Open first checks the meta pages against the file size
// itself and runs the page walk with debug.SetPanicOnFault.
package storage
