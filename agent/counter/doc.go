// Package counter is the terminal's counter: what each key does on each
// screen, which screen each engine event leads to, the supervisor's menu
// behind a PIN, the end-of-day reports and commissioning from the keypad.
//
// It is split in two so that the logic is tested without a binary:
//
//   - [Machine] is the logic alone: keys and engine events in; a
//     display.Screen, [Action]s to run and [Doc]s to print out. It does no
//     I/O. Every screen × every key is a row of a table in its test.
//   - [Counter] runs a Machine: it reads the keypad, takes the engine's
//     events (queued, never dropped), runs the actions off its loop (a sale,
//     a cancel, a PIN check, a refund, a report) and feeds their results
//     back, and hands screens to the display through a one-screen mailbox
//     (a slow panel skips stale screens, never the latest).
//
// Screens are data: the counter sets kinds, amounts, message ids and menu
// item ids; the renderer names them in the terminal's locale. Every screen
// carries the hints of the keys that do something on it (Screen.Keys).
//
// The rules the cashier sees:
//
//   - The keypad never gets stuck. A refused key or amount shows the reason
//     with the text as it stands; the next key works on that text, and after
//     a refused Enter the next digit starts a new amount. Cancel always
//     leaves.
//   - Every outcome has its own screen: paid (with the channel), declined
//     (nobody charged), cancelled by the cashier, expired (not paid in
//     time), checking (outcome unknown: do not hand over goods; Enter asks
//     again, Cancel cancels), offline (how many sales wait, their sum), and
//     paid late (after the sale was cancelled: keep it, or refund it). A QR
//     slip that was printed for a sale that can no longer be paid gets a
//     void slip.
//   - After a restart, the sale the last run left open is the sale on the
//     screen, marked recovered; Cancel works on it.
//   - The menu opens with a PIN (Menu key). PINs are hashed with argon2id in
//     a 0600 file in the state directory ([SetPIN], `posagent pin set`);
//     five wrong PINs in a row lock entry for 5 minutes, doubling up to an
//     hour, and the count survives a restart. A supervisor gets refunds
//     (last sale or a typed order number, all or part, through the engine's
//     write-first Refund), reprint, X and Z reports, self-test, network
//     status and check-in; a technician gets activation (the code typed on
//     the keypad, a commissioning slip printed), self-test, network and
//     check-in.
package counter
