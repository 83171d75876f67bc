// Package provision turns a fresh device into a Upay terminal and keeps it
// one: it finds a stable device id, loads the integrator's vendor
// credentials without ever storing them, activates the terminal with a
// one-time code, rotates the terminal key at check-in, and runs the
// `posagent doctor` checks a field technician reads.
//
// Why it is shaped like this (shared/spec/upay-v2.md, "Terminal lifecycle",
// and field-notes.md, "Upay"):
//
//   - Activation codes are usually good for one use. The answer to
//     activate is the only copy of the new terminal key, so it is committed
//     to the database (bbolt, fsync) before anything uses it. A lost answer
//     is reported as "the code may have been used", never retried blindly.
//
//   - Check-in rotates the key and the gateway keeps only the current and
//     the previous one. The new key is persisted before it signs anything;
//     if the answer is lost the old key stays in use, and since the key that
//     signed a check-in stays valid as "previous", the next check-in signed
//     with it succeeds. A popular public client never stores the rotated key
//     at all and stops working a day later.
//
//   - Vendor credentials (vendor_sn, vendor_key, app_id) belong to the
//     integrator. They are read from a 0600 file, the environment or a
//     prompt, used for the one activate call and never written anywhere.
//     Every Stringer here masks keys; tests check errors and logs for them.
//
//   - Doctor checks are plain functions returning green or red with the fix
//     to try, because the person reading them is at a shop counter with a
//     laptop, not at a debugger.
//
// How cmd/posagent uses it (see Example):
//
//	posagent provision --code C [--force]
//	    id, _ := DeviceID(os.DirFS("/"))
//	    v, _ := LoadVendor(path, os.Getenv, prompt)    // prompt reads secrets without echo
//	    c, _ := upay.New(v.Configure(cfg))             // the vendor pair signs activate
//	    creds, err := Provision(ctx, db, c, Params{Code: C, DeviceID: id, Vendor: v, Force: force, OSInfo: OSInfo(os.DirFS("/"))})
//	posagent checkin
//	    err := Checkin(ctx, db, c, id, time.Now())
//	posagent run
//	    go RunDaily(ctx, agent.SystemClock{}, func(ctx context.Context) error { return Checkin(ctx, db, c, id, time.Now()) }, log)
//	posagent doctor
//	    hc := HTTPClient(cfg)
//	    probe := ProbeURL(kind, base)                   // a real API path, fetched with a plain GET
//	    ok := RunChecks(ctx, []Check{ClockCheck(time.Now, DateRef(probe, hc)), GatewayReach(probe, hc),
//	        CredentialsCheck(db, c),                    // Upay; Alipay and Yedpay: GatewayCredentialsCheck(name, who, gw.Query, fix)
//	        DatabaseCheck(db), DiskCheck(dir, 64<<20),
//	        DeviceCheck("keypad", openKeypad), DeviceCheck("display", openDisplay), DeviceCheck("printer", openPrinter)}, os.Stdout)
//	    // exit 1 unless ok; when storage.OpenReadOnly fails, use DatabaseOpenError(path, err) in place of DatabaseCheck
//
// The credentials checks prove credentials with a harmless signed call
// whose expected refusal proves them: a query for an order that cannot
// exist, answered "not found", can only come from a gateway that accepted
// the signature, the app id or the token.
//
// Secrets: Vendor and storage.Credentials mask their keys in String,
// GoString, JSON and slog; no error or log line of this package carries a
// key (TestSecretsNeverPrinted searches them all for every key the sandbox
// delivered).
package provision
