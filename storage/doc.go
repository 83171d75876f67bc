// Package storage keeps posagent's durable state in one bbolt file: orders,
// the index of orders that are not final yet, the terminal credentials, the
// per-device client_sn counter, counters per state and the check-in
// history; and, for old orders, archive files next to it.
//
// Why it is shaped like this:
//
//   - The sale engine writes an order before it talks to the gateway
//     (docs: "write first"). Every state change is therefore one
//     db.Update transaction, which bbolt commits with two fsyncs (data pages,
//     then the meta page). NoSync is never set. DB.Commits counts commits so
//     the engine's benchmarks can show how many fsyncs a sale costs.
//
//   - A busy counter makes a million orders in a few years (issue 14), and
//     start-up, `status`, `orders list` and `show` must not grow with that.
//     Open reads two pages (the meta pages, checked against the file size)
//     and the clean-close marker: nothing in proportion to the history.
//     Stats reads counters kept in the same transactions as the orders.
//     Lists and exports stream (Orders, EachOrder, ExportCSV, ExportJSON,
//     WriteOrderList) in chunks of short read transactions. GetOrder is one
//     index lookup. Measured by TestBenchScale (make bench-scale).
//
//   - A payment terminal must never forget an order nor silently start from
//     scratch. The whole-file check (every page and value, bbolt's
//     Tx.Check, every record's checksum, the indexes and counters) runs
//     where it pays: after an unclean shutdown, in the background while
//     the terminal sells (CheckInBackground); on demand (Verify, for
//     `posagent doctor --deep`); or in Open with CheckFull. A file found
//     corrupt is renamed to "<path>.corrupt-<UTC timestamp>" (by Open, or
//     by Close when the check ran on an open handle), logged with
//     slog.Error and reported as *CorruptError; a new database is created
//     only by a later Open, and it has no credentials, so the agent cannot
//     sell until it is provisioned again (or the old file is restored by
//     hand). Wrong derived data (indexes, counters) is rebuilt in a logged
//     transaction instead.
//
//   - Records are compact binary (record.go): tagged fields, so a newer
//     version's fields are skipped, with a CRC-32C each because bbolt has
//     no page checksums. About 275 bytes per paid sale on disk, keys and
//     index included, where schema v2's JSON took 2.1 KB. Orders are keyed
//     by creation time and seq (so the bucket is its own time index and a
//     day is one seek), indexed by client_sn and, while not final, by seq.
//     Append-only buckets fill their pages (FillPercent 1.0).
//
//   - Archive moves final orders (never one with an unconfirmed refund) to
//     gzip'd JSON-lines month files, then compacts the database; archived
//     orders still answer GetOrder, lists and exports, and come back into
//     the database when they change (a refund months later).
//
//   - Shops and gateways count a refund on the day it was made, not on
//     the day of its sale. PutOrder logs each change of an order's
//     refunded total with its time, in the same transaction (refunds.go);
//     Refunds streams the refunds of a period with one seek.
//
//   - The schema has a version in the "meta" bucket and an ordered list of
//     forward migrations, each committed on its own; one that rewrites
//     every order does so in batches, resumable after a crash.
//
//   - The file holds the terminal key, so it is created 0600 (its directory
//     0700 when Open creates it) and Credentials never prints the key.
//     OpenReadOnly never creates or writes anything, for the CLI.
//
// Pitfalls this package guards against (see shared/spec/field-notes.md):
// bbolt.Open blocks forever on a held lock without Options.Timeout; a
// truncated file makes bbolt fault on mmap'd pages beyond the end of the
// file (SIGBUS), so Open first checks the meta pages against the file size
// itself and the full check runs the page walk with debug.SetPanicOnFault;
// a streaming read of a large file would keep every page it touched in
// the process's resident set, so it drops them (dropMapped).
package storage
