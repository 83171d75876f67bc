package main

// End-to-end tests of the real posagent binary: built once, run as a
// subprocess against the Upay sandbox on loopback, with a pseudo-terminal
// as its serial keypad, a PNG display and a file printer. Synchronisation is
// on the binary's own JSON log lines, never on sleeps.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"image/png"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/qrcode"

	"posagent/gateway"
	"posagent/gateway/upay/sandbox"
	"posagent/printer/preview"
	"posagent/storage"
)

var binPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "posagent-e2e-")
	if err != nil {
		panic(err)
	}
	binPath = filepath.Join(dir, "posagent")
	out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building posagent: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// rig is one terminal's files and the sandbox it talks to.
type rig struct {
	t       *testing.T
	dir     string
	sb      *sandbox.Server
	url     string
	config  string
	db      string
	screen  string
	paper   string
	keys    *os.File // pty master: what the keypad "sends"
	keyPort string
}

func newRig(t *testing.T, codes map[string]int) *rig {
	t.Helper()
	r := &rig{t: t, dir: t.TempDir()}
	r.sb = sandbox.New(sandbox.Options{ActivationCodes: codes})
	srv := httptest.NewServer(r.sb)
	t.Cleanup(srv.Close)
	r.sb.SetBaseURL(srv.URL)
	r.url = srv.URL
	master, slave, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { master.Close(); slave.Close() })
	r.keys, r.keyPort = master, slave.Name()
	r.db = filepath.Join(r.dir, "state", "posagent.db")
	r.screen = filepath.Join(r.dir, "screen.png")
	r.paper = filepath.Join(r.dir, "printer.escpos")
	r.config = filepath.Join(r.dir, "posagent.toml")
	r.writeConfig("")
	os.WriteFile(filepath.Join(r.dir, "vendor"), []byte("vendor_sn = \"91800001\"\nvendor_key = \"sandbox-vendor-key\"\napp_id = \"e2e\"\n"), 0o600)
	return r
}

func (r *rig) writeConfig(extra string) {
	// English receipts: the preview reader reads them back as text (a
	// Chinese receipt needs a printer charset or font set up).
	cfg := fmt.Sprintf(`[terminal]
merchant = "E2E Shop"
locale = "en"
database = %q
[gateway]
url = %q
timeout = "3s"
[keypad]
driver = "serial"
port = %q
[[display]]
driver = "png"
path = %q
[printer]
driver = "file"
device = %q
[log]
format = "json"
level = "debug"
%s`, r.db, r.url, r.keyPort, r.screen, r.paper, extra)
	if err := os.WriteFile(r.config, []byte(cfg), 0o600); err != nil {
		r.t.Fatal(err)
	}
}

// cli runs one posagent command to completion.
func (r *rig) cli(args ...string) (string, int) {
	r.t.Helper()
	cmd := exec.Command(binPath, args...)
	cmd.Env = append(os.Environ(), "POSAGENT_VENDOR_SN=", "POSAGENT_VENDOR_KEY=")
	cmd.Stdin = strings.NewReader("")
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		r.t.Fatal(err)
	}
	return string(out), code
}

func (r *rig) provision() {
	r.t.Helper()
	out, code := r.cli("provision", "--config", r.config, "--code", "12345678", "--vendor-file", filepath.Join(r.dir, "vendor"))
	if code != 0 || !strings.Contains(out, "provisioned") {
		r.t.Fatalf("provision: %d\n%s", code, out)
	}
}

// agentProc is a running `posagent run`, with its log lines.
type agentProc struct {
	t     *testing.T
	cmd   *exec.Cmd
	lines chan map[string]any
	done  chan error
	mu    sync.Mutex
	log   []string
	// held are lines read while waiting for the start-up, for the next
	// waitFor: a screen or an order may come before the start-up is over.
	held []map[string]any
}

func (r *rig) start(env ...string) *agentProc {
	r.t.Helper()
	p := &agentProc{t: r.t, lines: make(chan map[string]any, 1024), done: make(chan error, 1)}
	p.cmd = exec.Command(binPath, "run", "--config", r.config)
	p.cmd.Env = append(os.Environ(), env...)
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		r.t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			p.mu.Lock()
			p.log = append(p.log, sc.Text())
			p.mu.Unlock()
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) == nil {
				p.lines <- m
			}
		}
		close(p.lines)
		p.done <- p.cmd.Wait()
	}()
	r.t.Cleanup(func() { p.cmd.Process.Kill() })
	// Both lines come, in either order, before the first key can be typed.
	// The terminal logs the keypad as connected once its status file says
	// so (the source's "keypad connected" comes before that), so status
	// and doctor see the keypad. The engine and the screens run meanwhile:
	// their lines are kept for the test's next waitFor.
	deadline := time.After(60 * time.Second)
	var running, keypad bool
	for !running || !keypad {
		m := p.recv("start-up", deadline)
		switch {
		case m["msg"] == "posagent running":
			running = true
		case m["msg"] == "device" && m["device"] == "keypad" && m["state"] == "connected":
			keypad = true
		default:
			p.held = append(p.held, m)
		}
	}
	return p
}

// next is the next log line, a held one first.
func (p *agentProc) next(what string, deadline <-chan time.Time) map[string]any {
	p.t.Helper()
	if len(p.held) > 0 {
		m := p.held[0]
		p.held = p.held[1:]
		return m
	}
	return p.recv(what, deadline)
}

// recv is the next log line from the process.
func (p *agentProc) recv(what string, deadline <-chan time.Time) map[string]any {
	p.t.Helper()
	select {
	case m, ok := <-p.lines:
		if !ok {
			p.t.Fatalf("posagent exited while waiting for %s:\n%s", what, p.logText())
		}
		return m
	case <-deadline:
		p.t.Fatalf("no %s within 60s:\n%s", what, p.logText())
	}
	return nil
}

// waitFor reads log lines until pred matches. The timeout only turns a
// hang into a failure.
func (p *agentProc) waitFor(what string, pred func(map[string]any) bool) map[string]any {
	p.t.Helper()
	deadline := time.After(60 * time.Second)
	for {
		if m := p.next(what, deadline); pred(m) {
			return m
		}
	}
}

func (p *agentProc) logText() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.log, "\n")
}

func orderTo(state string) func(map[string]any) bool {
	return func(m map[string]any) bool { return m["msg"] == "order" && m["to"] == state }
}

func screen(kind string) func(map[string]any) bool {
	return func(m map[string]any) bool { return m["msg"] == "screen shown" && m["kind"] == kind }
}

func (r *rig) typeKeys(s string) {
	r.t.Helper()
	if _, err := r.keys.Write([]byte(s)); err != nil {
		r.t.Fatal(err)
	}
}

func decodeQR(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		t.Fatal(err)
	}
	res, err := qrcode.NewQRCodeReader().Decode(bmp, nil)
	if err != nil {
		t.Fatalf("no QR code in %s: %v", path, err)
	}
	return res.GetText()
}

func TestEndToEndSale(t *testing.T) {
	r := newRig(t, nil)
	r.provision()
	p := r.start()

	// A bad amount is refused on the screen and nothing is stored.
	r.typeKeys("1.234")
	p.waitFor("error screen", screen("error"))
	r.typeKeys("x12.50\r")
	aw := p.waitFor("awaiting payment", orderTo("awaiting_payment"))
	clientSN := aw["client_sn"].(string)
	p.waitFor("QR on screen", screen("awaiting-payment"))

	// The QR decoded from the PNG's pixels is the order's qr_code.
	var entry gateway.LedgerEntry
	for _, e := range r.sb.Ledger().Orders {
		if e.ClientSN == clientSN {
			entry = e
		}
	}
	if entry.AmountCents != 1250 {
		t.Fatalf("ledger: %+v", r.sb.Ledger())
	}
	if got, want := decodeQR(t, r.screen), r.url+"/qr/"+entry.SN; got != want {
		t.Fatalf("QR on screen %q, want %q", got, want)
	}
	if err := r.sb.Pay(clientSN); err != nil {
		t.Fatal(err)
	}
	p.waitFor("paid", orderTo("paid"))
	p.waitFor("PAID on screen", screen("paid"))
	// The receipt was queued before the screen; a stop drops what the
	// spooler has not printed yet (and cuts the job it is writing).
	p.waitPrinted()

	// SIGTERM: a clean stop.
	p.cmd.Process.Signal(syscall.SIGTERM)
	if err := <-p.done; err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, p.logText())
	}
	// The receipt, read back by the independent ESC/POS reader.
	data, err := os.ReadFile(r.paper)
	if err != nil {
		t.Fatal(err)
	}
	page, err := preview.Parse(data, preview.Options{})
	if err != nil {
		t.Fatalf("printer output does not parse: %v", err)
	}
	text := strings.Join(page.Texts(), "\n")
	for _, want := range []string{"PAID", "12.50", clientSN, "E2E Shop"} {
		if !strings.Contains(text, want) {
			t.Errorf("receipt lacks %q:\n%s", want, text)
		}
	}
	// The stored order, through the CLI.
	out, code := r.cli("orders", "--config", r.config, "show", clientSN)
	if code != 0 || !strings.Contains(out, "paid") {
		t.Fatalf("orders show: %d\n%s", code, out)
	}
	out, code = r.cli("orders", "--config", r.config, "export", "--format", "csv")
	if code != 0 || !strings.Contains(out, clientSN) || !strings.Contains(out, "12.50") {
		t.Fatalf("export: %d\n%s", code, out)
	}
	out, code = r.cli("status", "--config", r.config)
	if code != 0 || !strings.Contains(out, "not running") || !strings.Contains(out, "1 in all") {
		t.Fatalf("status: %d\n%s", code, out)
	}
	// Refund half, confirmed with --yes.
	out, code = r.cli("refund", clientSN, "6.25", "--yes", "--config", r.config) // flags after the arguments (issue 17)
	if code != 0 || !strings.Contains(out, "partial_refunded") {
		t.Fatalf("refund: %d\n%s", code, out)
	}
	if l := r.sb.Ledger().Orders[0]; l.RefundedCents != 625 || l.Charges != 1 {
		t.Fatalf("ledger after refund: %+v", l)
	}
}

func TestCommandsWhileRunning(t *testing.T) {
	r := newRig(t, nil)
	r.provision()
	p := r.start()
	out, code := r.cli("status", "--config", r.config)
	if code != 0 || !strings.Contains(out, "running (pid") {
		t.Fatalf("status while running: %d\n%s", code, out)
	}
	// The key is in the database only: not in status, the log or the status file.
	raw, _ := os.ReadFile(filepath.Join(filepath.Dir(r.db), "status.json"))
	db := openTestDBCopy(t, r.db)
	for _, text := range []string{out, p.logText(), string(raw)} {
		if strings.Contains(text, db.TerminalKey) || strings.Contains(text, db.PrevKey) {
			t.Fatalf("a key leaked:\n%s", text)
		}
		if strings.Contains(text, db.TerminalSN) {
			t.Fatalf("the full terminal_sn is shown:\n%s", text)
		}
	}
	// The merchant's commands reach the running service through its socket.
	r.typeKeys("8.00\r")
	clientSN := p.waitFor("awaiting", orderTo("awaiting_payment"))["client_sn"].(string)
	r.sb.Pay(clientSN)
	p.waitFor("paid", orderTo("paid"))
	out, code = r.cli("orders", "--config", r.config, "export", "--format", "csv")
	if code != 0 || !strings.Contains(out, clientSN) || !strings.Contains(out, "8.00") {
		t.Fatalf("export while running: %d\n%s", code, out)
	}
	if out, code = r.cli("orders", "--config", r.config, "show", clientSN); code != 0 || !strings.Contains(out, "paid") {
		t.Fatalf("show while running: %d\n%s", code, out)
	}
	if out, code = r.cli("refund", "--config", r.config, "--yes", clientSN); code != 0 || !strings.Contains(out, "refunded: order "+clientSN+" is refunded") {
		t.Fatalf("refund while running: %d\n%s", code, out)
	}
	p.waitFor("refund recorded", orderTo("refunded"))
	if out, code = r.cli("refund", "--config", r.config, "--yes", clientSN); code == 0 || !strings.Contains(out, "nothing to refund") {
		t.Fatalf("second full refund: %d\n%s", code, out)
	}
	if out, code = r.cli("checkin", "--config", r.config); code != 0 || !strings.Contains(out, "checked in") {
		t.Fatalf("checkin while running: %d\n%s", code, out)
	}
	if l := r.sb.Ledger().Orders[0]; l.RefundedCents != 800 || l.Status != gateway.StatusRefunded {
		t.Fatalf("ledger: %+v", l)
	}
	// A second agent on the same database is refused clearly.
	out, code = r.cli("run", "--config", r.config)
	if code == 0 || !strings.Contains(out, "locked by another process") {
		t.Fatalf("second agent: %d\n%s", code, out)
	}
}

func TestProvisioningErrors(t *testing.T) {
	r := newRig(t, map[string]int{"12345678": 1})
	vendor := filepath.Join(r.dir, "vendor")
	for name, tc := range map[string]struct {
		args []string
		want string
	}{
		"no code":        {[]string{"provision", "--config", r.config, "--vendor-file", vendor}, "--code is required"},
		"bad code":       {[]string{"provision", "--config", r.config, "--vendor-file", vendor, "--code", "00000000"}, "activation"},
		"unknown config": {[]string{"provision", "--config", filepath.Join(r.dir, "nope.toml"), "--code", "1"}, "nope.toml does not exist"},
	} {
		out, code := r.cli(tc.args...)
		if code == 0 || !strings.Contains(strings.ToLower(out), strings.ToLower(tc.want)) {
			t.Errorf("%s: exit %d, want a message with %q:\n%s", name, code, tc.want, out)
		}
	}
	// Wrong vendor key.
	bad := filepath.Join(r.dir, "badvendor")
	os.WriteFile(bad, []byte("vendor_sn = \"91800001\"\nvendor_key = \"wrong\"\napp_id = \"e2e\"\n"), 0o600)
	if out, code := r.cli("provision", "--config", r.config, "--vendor-file", bad, "--code", "12345678"); code == 0 || !strings.Contains(strings.ToLower(out), "vendor") {
		t.Errorf("wrong vendor key: %d\n%s", code, out)
	}
	// A vendor file others can read is refused.
	os.Chmod(vendor, 0o644)
	if out, code := r.cli("provision", "--config", r.config, "--vendor-file", vendor, "--code", "12345678"); code == 0 || !strings.Contains(out, "chmod 600") {
		t.Errorf("world-readable vendor file: %d\n%s", code, out)
	}
	os.Chmod(vendor, 0o600)
	r.provision()
	// The code is used up; and the device is provisioned already.
	if out, code := r.cli("provision", "--config", r.config, "--vendor-file", vendor, "--code", "12345678", "--force"); code == 0 {
		t.Errorf("used code accepted:\n%s", out)
	}
	if out, code := r.cli("provision", "--config", r.config, "--vendor-file", vendor, "--code", "12345678"); code == 0 || !strings.Contains(out, "--force") {
		t.Errorf("re-provision without --force: %d\n%s", code, out)
	}
	// Unreachable gateway.
	r.url = "http://127.0.0.1:1"
	r.writeConfig("")
	if out, code := r.cli("provision", "--config", r.config, "--vendor-file", vendor, "--code", "12345678", "--force"); code == 0 || !strings.Contains(strings.ToLower(out), "reach") {
		t.Errorf("unreachable gateway: %d\n%s", code, out)
	}
	// Bad config names the key.
	os.WriteFile(r.config, []byte("[terminal]\nmax_amount = \"-1\"\n"), 0o600)
	if out, code := r.cli("run", "--config", r.config); code == 0 || !strings.Contains(out, "terminal.max_amount") {
		t.Errorf("bad config: %d\n%s", code, out)
	}
}

func TestRunNotProvisioned(t *testing.T) {
	r := newRig(t, nil)
	out, code := r.cli("run", "--config", r.config)
	if code == 0 || !strings.Contains(out, "not provisioned") {
		t.Fatalf("%d\n%s", code, out)
	}
}

// TestSelftestBinary: the same terminal sells through each gateway chosen
// in its configuration.
func TestSelftestBinary(t *testing.T) {
	for _, gw := range []string{"upay", "alipay", "yedpay"} {
		out, err := exec.Command(binPath, "selftest", "--gateway", gw).CombinedOutput()
		if err != nil || !bytes.Contains(out, []byte("selftest: PAID")) || !bytes.Contains(out, []byte("selftest: ok")) {
			t.Fatalf("%s: %v\n%s", gw, err, out)
		}
	}
}

// openTestDBCopy reads the credentials from a copy of the database (the
// running agent holds the lock on the original).
func openTestDBCopy(t *testing.T, path string) storage.Credentials {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cp := filepath.Join(t.TempDir(), "copy.db")
	os.WriteFile(cp, b, 0o600)
	db, err := storage.Open(cp, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	c, err := db.Credentials()
	if err != nil || c.TerminalKey == "" || c.PrevKey == "" {
		t.Fatalf("credentials: %v %v", c, err)
	}
	return c
}
