package main

// The technician's CLI as issue 17 tried it, on the real binary (built in
// TestMain, e2e_test.go): flags anywhere, --help exits 0 and shows
// arguments and subcommands, read-only commands leave the tree byte for
// byte unchanged, refund checks before it asks, doctor on a running
// service for every gateway. The expected behaviour is the text
// ("Done when: tests cover each point…"); the gateways' answers are those
// of their sandboxes, which follow ../shared/spec.

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/spf13/cobra"

	"posagent/agent/counter"
	alipaysandbox "posagent/gateway/alipay/sandbox"
	yedpaysandbox "posagent/gateway/yedpay/sandbox"
	"posagent/storage"
)

// posagent runs the binary with env added, stdin as given, in dir.
func posagent(t *testing.T, dir, stdin string, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(binPath, args...)
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), "TERM=dumb", "POSAGENT_VENDOR_SN=", "POSAGENT_VENDOR_KEY="), env...)
	cmd.Stdin = strings.NewReader(stdin)
	var o, e strings.Builder
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return o.String(), e.String(), code
}

// seedTree is a terminal's files without a service: a config and a
// database holding three orders on known days.
type seedTree struct {
	dir, config, db     string
	paid, old, canceled string // client_sns
}

func newSeedTree(t *testing.T) *seedTree {
	t.Helper()
	s := &seedTree{dir: t.TempDir()}
	s.db = filepath.Join(s.dir, "state", "posagent.db")
	s.config = filepath.Join(s.dir, "posagent.toml")
	os.WriteFile(s.config, []byte(fmt.Sprintf("[terminal]\ndatabase = %q\n[gateway]\nurl = \"http://127.0.0.1:1\"\ntimeout = \"1s\"\n[keypad]\ndriver = \"none\"\n[log]\nformat = \"json\"\n", s.db)), 0o600)
	db, err := storage.Open(s.db, nil)
	if err != nil {
		t.Fatal(err)
	}
	day := func(d, h int) time.Time { return time.Date(2026, 11, d, h, 0, 0, 0, time.Local) }
	for _, o := range []*storage.Order{
		{ClientSN: "OLD0001", AmountCents: 1250, State: "paid", Final: true, CreatedAt: day(20, 12)},
		{ClientSN: "PAID0002", AmountCents: 800, State: "paid", Final: true, CreatedAt: day(26, 10)},
		{ClientSN: "CANC0003", AmountCents: 300, State: "canceled", Final: true, CreatedAt: day(27, 9)},
	} {
		if err := db.CreateOrder(o, ""); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	s.old, s.paid, s.canceled = "OLD0001", "PAID0002", "CANC0003"
	return s
}

// TestFlagsAnywhere: the README's own command line and its variants give
// the same export (issue 17: "flags after the subcommand are silently
// ignored").
func TestFlagsAnywhere(t *testing.T) {
	s := newSeedTree(t)
	for _, args := range [][]string{
		{"orders", "export", "--format", "json", "--since", "2026-11-25", "--config", s.config},
		{"--config", s.config, "orders", "export", "--since", "2026-11-25", "--format", "json"},
		{"orders", "--config=" + s.config, "export", "--format=json", "--since=2026-11-25"},
		{"orders", "export", "--set", "terminal.database=" + s.db, "--format", "json", "--since", "2026-11-25"},
	} {
		out, errOut, code := posagent(t, s.dir, "", nil, args...)
		var export struct{ Orders []map[string]any } // storage's JSON export
		if code != 0 || json.Unmarshal([]byte(out), &export) != nil {
			t.Errorf("%v: exit %d, not JSON:\n%s%s", args, code, out, errOut)
			continue
		}
		var sns []string
		for _, r := range export.Orders {
			sns = append(sns, fmt.Sprint(r["client_sn"]))
		}
		sort.Strings(sns)
		if strings.Join(sns, ",") != s.canceled+","+s.paid {
			t.Errorf("%v: exported %v, want the orders from 2026-11-25 on", args, sns)
		}
	}
	// CSV is CSV; a format that does not exist is refused naming the allowed ones.
	out, _, code := posagent(t, s.dir, "", nil, "orders", "export", "--since", "2026-11-01", "--format", "csv", "--config", s.config)
	if code != 0 || !strings.Contains(out, s.old) || strings.HasPrefix(strings.TrimSpace(out), "{") {
		t.Errorf("csv export: %d\n%s", code, out)
	}
	_, errOut, code := posagent(t, s.dir, "", nil, "orders", "export", "--format", "xml", "--config", s.config)
	if code != 2 || !strings.Contains(errOut, "choose csv or json") {
		t.Errorf("--format xml: exit %d\n%s", code, errOut)
	}
	// --set after the subcommand reaches the database it names.
	other := newSeedTree(t)
	odb, _ := storage.Open(other.db, nil)
	odb.CreateOrder(&storage.Order{ClientSN: "ELSEWHERE1", AmountCents: 100, State: "paid", Final: true}, "")
	odb.Close()
	out, errOut, code = posagent(t, s.dir, "", nil, "orders", "list", "--config", s.config, "--set", "terminal.database="+other.db)
	if code != 0 || !strings.Contains(out, "ELSEWHERE1") {
		t.Errorf("orders list --set terminal.database: %d\n%s%s", code, out, errOut)
	}
	// Bad values in --set name the key, in plain words, exit non-zero.
	_, errOut, code = posagent(t, s.dir, "", nil, "status", "--config", s.config, "--set", "terminal.payment_window=5")
	if code == 0 || !strings.Contains(errOut, `terminal.payment_window: "5" needs a unit`) || strings.Contains(errOut, "config:") {
		t.Errorf("payment_window=5: %d\n%s", code, errOut)
	}
	_, errOut, code = posagent(t, s.dir, "", nil, "status", "--config", s.config, "--set", "display.driver=crt")
	if code == 0 || !strings.Contains(errOut, "use st7789, ili9341, ssd1306") {
		t.Errorf("display.driver=crt: %d\n%s", code, errOut)
	}
}

// TestHelpEverywhere: every command's --help exits 0 on stdout and shows
// its arguments and subcommands; mistakes on the command line exit 2.
// TestSandboxCommandsSayWhatTheyIgnore: demo and selftest build their own
// configuration around the sandbox. --config would be ignored and the keys
// they set themselves overwritten, so both are refused with a reason
// rather than silently dropped (issue 17: no flag is silently ignored);
// the terminal's own settings given with --set do reach the terminal.
func TestSandboxCommandsSayWhatTheyIgnore(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"selftest", "--config", filepath.Join(dir, "posagent.toml")}, "reads no configuration file"},
		{[]string{"demo", "--set", "gateway.url=http://127.0.0.1:1", "--dir", dir}, "--set gateway.url: demo sets that itself"},
		{[]string{"selftest", "--set", "terminal.database=" + filepath.Join(dir, "x.db")}, "--set terminal.database: selftest sets that itself"},
		{[]string{"selftest", "--set", "display.driver=st7789"}, "--set display.driver"},
		{[]string{"selftest", "--gateway", "paypal"}, "choose upay, alipay or yedpay"},
		{[]string{"selftest", "--timeout", "soon"}, "invalid argument"},
	} {
		_, errOut, code := posagent(t, dir, "", nil, tc.args...)
		if code != 2 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, want 2 and %q:\n%s", tc.args, code, tc.want, errOut)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log := slog.New(slog.DiscardHandler)
	cfg, _, _, err := sandboxTerminal(ctx, filepath.Join(dir, "s1"), "127.0.0.1:0", "yedpay",
		[]string{"terminal.locale=en", "printer.paper_mm=80", "terminal.merchant=Corner Cafe"}, log)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Terminal.Locale != "en" || cfg.Printer.PaperMM != 80 || cfg.Terminal.Merchant != "Corner Cafe" ||
		cfg.Printer.Driver != "file" || cfg.Gateway.Kind != "yedpay" || !cfg.Terminal.PrintQR {
		t.Errorf("--set did not reach the sandbox terminal, or took what the demo sets: %+v", cfg)
	}
	cfg, _, _, err = sandboxTerminal(ctx, filepath.Join(dir, "s2"), "127.0.0.1:0", "upay", nil, log)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Terminal.Merchant != "posagent demo" || cfg.Terminal.Locale != "" {
		t.Errorf("the demo's own defaults: merchant %q, locale %q", cfg.Terminal.Merchant, cfg.Terminal.Locale)
	}
}

func TestHelpEverywhere(t *testing.T) {
	dir := t.TempDir()
	var paths [][]string
	var walk func(c *cobra.Command, path []string)
	walk = func(c *cobra.Command, path []string) {
		paths = append(paths, path)
		for _, sub := range c.Commands() {
			walk(sub, append(append([]string(nil), path...), sub.Name()))
		}
	}
	walk((&cli{}).root(), nil)
	if len(paths) < 15 {
		t.Fatalf("only %d commands", len(paths))
	}
	for _, p := range paths {
		out, errOut, code := posagent(t, dir, "", nil, append(p, "--help")...)
		if code != 0 {
			t.Errorf("posagent %s --help: exit %d\n%s", strings.Join(p, " "), code, errOut)
		}
		if !strings.Contains(out, "Usage:") {
			t.Errorf("posagent %s --help shows no usage:\n%s", strings.Join(p, " "), out)
		}
	}
	out, _, _ := posagent(t, dir, "", nil, "orders", "--help")
	for _, sub := range []string{"list", "show", "export", "archive"} {
		if !strings.Contains(out, "  "+sub+" ") {
			t.Errorf("orders --help does not list %s:\n%s", sub, out)
		}
	}
	if out, _, _ := posagent(t, dir, "", nil, "refund", "--help"); !strings.Contains(out, "refund CLIENT_SN [AMOUNT]") || !strings.Contains(out, "--yes") {
		t.Errorf("refund --help:\n%s", out)
	}
	if out, _, code := posagent(t, dir, "", nil, "help", "orders", "export"); code != 0 || !strings.Contains(out, "--format") {
		t.Errorf("help orders export: %d\n%s", code, out)
	}
	for _, args := range [][]string{{}, {"bogus"}, {"orders", "bogus"}, {"status", "--nope"}, {"refund"}, {"orders", "show"}, {"refund", "X", "abc"}} {
		_, errOut, code := posagent(t, dir, "", nil, args...)
		if code != 2 {
			t.Errorf("posagent %v: exit %d, want 2\n%s", args, code, errOut)
		}
		if strings.Contains(errOut, "keypad:") || strings.Contains(errOut, "storage:") {
			t.Errorf("posagent %v: internal prefix in %q", args, errOut)
		}
	}
	if out, _, code := posagent(t, dir, "", nil, "--version"); code != 0 || !strings.HasPrefix(out, "posagent ") {
		t.Errorf("--version: %d %q", code, out)
	}
}

// snapshot is every file and directory under root with its mode, size,
// modification time and content hash.
func snapshot(t *testing.T, root string) map[string]string {
	t.Helper()
	m := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		v := fmt.Sprintf("%v %d %d", fi.Mode(), fi.Size(), fi.ModTime().UnixNano())
		if fi.Mode().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(b)
			v += " " + hex.EncodeToString(sum[:])
		}
		m[p] = v
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func diffSnap(a, b map[string]string) []string {
	var d []string
	for k, v := range a {
		if b[k] != v {
			d = append(d, fmt.Sprintf("%s: %q → %q", k, v, b[k]))
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			d = append(d, "new: "+k)
		}
	}
	sort.Strings(d)
	return d
}

// TestReadOnlyCommandsChangeNothing: no command but provision, run and demo
// creates or changes a file (issue 17), and a database path that does not
// exist is an error naming it.
func TestReadOnlyCommandsChangeNothing(t *testing.T) {
	s := newSeedTree(t)
	cfg := []string{"--config", s.config}
	missing := filepath.Join(s.dir, "stat", "posagent.db") // a typo of state/
	for _, args := range [][]string{
		{"status"}, {"orders"}, {"orders", "list"}, {"orders", "show", s.paid}, {"orders", "show", "NOPE"},
		{"orders", "export", "--format", "csv"}, {"orders", "export", "--format", "json", "--since", "2026-11-01"},
		{"doctor"}, {"doctor", "--deep"}, {"version"}, {"--help"}, {"refund", "NOPE", "--yes"}, {"refund", s.canceled, "--yes"},
		{"refund", s.paid, "99999.00", "--yes"}, {"support-bundle", "-o", "-"}, {"checkin"}, {"upload-log"}, {"pin", "set", "bogus"},
		{"orders", "archive"},
	} {
		before := snapshot(t, s.dir)
		out, errOut, code := posagent(t, s.dir, "", nil, append(args, cfg...)...)
		if d := diffSnap(before, snapshot(t, s.dir)); len(d) > 0 {
			t.Errorf("posagent %v (exit %d) changed the tree:\n%s\n%s%s", args, code, strings.Join(d, "\n"), out, errOut)
		}
	}
	for _, args := range [][]string{{"status"}, {"orders", "list"}, {"orders", "export"}, {"refund", "X", "--yes"}, {"checkin"}, {"doctor"}} {
		before := snapshot(t, s.dir)
		out, errOut, code := posagent(t, s.dir, "", nil, append(args, append(cfg, "--set", "terminal.database="+missing)...)...)
		if code == 0 || !strings.Contains(out+errOut, missing) || !strings.Contains(out+errOut, "does not exist") {
			t.Errorf("posagent %v on a missing database: exit %d, want an error naming %s:\n%s%s", args, code, missing, out, errOut)
		}
		if strings.Contains(out+errOut, "provision --code") && args[0] == "doctor" && !strings.Contains(out+errOut, "terminal.database") {
			t.Errorf("doctor tells a technician to provision instead of checking the path:\n%s", out)
		}
		if d := diffSnap(before, snapshot(t, s.dir)); len(d) > 0 {
			t.Errorf("posagent %v created:\n%s", args, strings.Join(d, "\n"))
		}
	}
	// A missing default configuration file is stated, not hidden.
	_, errOut, _ := posagent(t, s.dir, "", nil, "status", "--set", "terminal.database="+s.db)
	if !strings.Contains(errOut, DefaultConfigPath+" does not exist") {
		if _, err := os.Stat(DefaultConfigPath); err != nil {
			t.Errorf("no word about the missing %s:\n%s", DefaultConfigPath, errOut)
		}
	}
}

// TestRefundChecksBeforeAsking: the question is asked only about a refund
// that can happen (issue 17: "Refund ¥99999.00 of order …? for a ¥12.50
// order").
func TestRefundChecksBeforeAsking(t *testing.T) {
	s := newSeedTree(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"refund", "NOPE"}, "order NOPE does not exist"},
		{[]string{"refund", s.paid, "99999.00"}, "has ¥8.00 left to refund"},
		{[]string{"refund", s.canceled}, "is canceled, not paid"},
	} {
		_, errOut, code := posagent(t, s.dir, "y\n", nil, append(tc.args, "--config", s.config)...)
		if code != 1 || !strings.Contains(errOut, tc.want) || strings.Contains(errOut, "[y/N]") || strings.Contains(errOut, "storage:") {
			t.Errorf("%v: exit %d\n%s\nwant %q and no question", tc.args, code, errOut, tc.want)
		}
	}
	// A refund that can happen is asked about, and "n" refunds nothing.
	_, errOut, code := posagent(t, s.dir, "n\n", nil, "refund", s.paid, "1.00", "--config", s.config)
	if code != 1 || !strings.Contains(errOut, "Refund ¥1.00 of order "+s.paid) || !strings.Contains(errOut, "nothing was refunded") {
		t.Errorf("declined refund: %d\n%s", code, errOut)
	}
	// A Hong Kong shop's money is HK$ (issue 16: "¥ for CNY, HK$ for HKD").
	token := filepath.Join(s.dir, "token")
	os.WriteFile(token, []byte("t\n"), 0o600)
	_, errOut, code = posagent(t, s.dir, "n\n", nil, "refund", s.paid, "1.00", "--config", s.config,
		"--set", "gateway.kind=yedpay", "--set", "gateway.store_id=S1", "--set", "gateway.access_token_file="+token)
	if code != 1 || !strings.Contains(errOut, "Refund HK$1.00 of order "+s.paid+" (paid HK$") {
		t.Errorf("declined refund, Yedpay: %d\n%s", code, errOut)
	}
}

// service is `posagent run` on a config whose keypad is "none".
func service(t *testing.T, config string) {
	t.Helper()
	cmd := exec.Command(binPath, "run", "--config", config)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	ready := make(chan bool, 1)
	var log strings.Builder
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			log.WriteString(sc.Text() + "\n")
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) == nil && m["msg"] == "posagent running" {
				ready <- true
			}
		}
		close(ready)
	}()
	select {
	case ok := <-ready:
		if !ok {
			t.Fatalf("the service exited:\n%s", log.String())
		}
	case <-time.After(60 * time.Second): // only turns a hang into a failure
		t.Fatal("the service did not start")
	}
}

// TestDoctorOnRunningService: with the service holding the database, the
// doctor's checks run inside it and every gateway's credentials are proved
// by a signed query for an order that cannot exist; wrong credentials are
// red with what to fix. Sandboxes: Upay (upay-v2.md: ILLEGAL_SIGN for a bad
// key, UPAY_ORDER_NOT_EXISTS for an unknown order), Alipay (field notes:
// ACQ.TRADE_NOT_EXIST for an unknown trade; isv.invalid-app-id for a wrong
// app id), Yedpay (field notes: Bearer token, GET /v1/transactions/{id};
// 401 for a wrong token, gateway/yedpay/wire.go).
func TestDoctorOnRunningService(t *testing.T) {
	env := []string{}
	t.Run("upay", func(t *testing.T) {
		r := newRig(t, nil)
		r.provision()
		r.start()
		out, errOut, code := posagent(t, r.dir, "", env, "doctor", "--config", r.config)
		if code != 0 || !strings.Contains(out, "(checked by the running service)") || !strings.Contains(out, "[ok] credentials: terminal") ||
			!strings.Contains(out, "[ok] keypad: connected") || !strings.Contains(out, "[ok] database") {
			t.Fatalf("doctor: exit %d\n%s%s", code, out, errOut)
		}
		out, _, _ = posagent(t, r.dir, "", env, "status", "--config", r.config)
		if !strings.Contains(out, "running (pid") || !strings.Contains(out, "last check-in") {
			t.Errorf("status:\n%s", out)
		}
	})
	t.Run("alipay", func(t *testing.T) {
		dir := t.TempDir()
		sb := alipaysandbox.New(alipaysandbox.Options{})
		srv := httptest.NewServer(sb)
		t.Cleanup(srv.Close)
		cc := sb.ClientConfig(srv.URL)
		priv, pub, err := sb.WriteClientKeys(dir)
		if err != nil {
			t.Fatal(err)
		}
		config := filepath.Join(dir, "posagent.toml")
		write := func(appID string) {
			os.WriteFile(config, []byte(fmt.Sprintf("[terminal]\ndatabase = %q\n[gateway]\nkind = \"alipay\"\nurl = %q\napp_id = %s\napp_private_key_file = %q\nalipay_public_key_file = %q\n[keypad]\ndriver = \"none\"\n[log]\nformat = \"json\"\n",
				filepath.Join(dir, "state", "posagent.db"), cc.BaseURL, appID, priv, pub)), 0o600)
		}
		// A wrong app id, all digits as Alipay's are, unquoted in the file:
		// red from here (no service yet) with what to fix.
		write("2021009999999999")
		out, errOut, code := posagent(t, dir, "", env, "doctor", "--config", config)
		if code != 1 || !strings.Contains(out, "[FAIL] credentials: Alipay refused app 2021009999999999") || !strings.Contains(out, "gateway.app_id") {
			t.Fatalf("doctor with a wrong app id: exit %d\n%s%s", code, out, errOut)
		}
		write(fmt.Sprintf("%q", cc.AppID))
		service(t, config)
		out, errOut, code = posagent(t, dir, "", env, "doctor", "--config", config)
		if code != 0 || !strings.Contains(out, "(checked by the running service)") || !strings.Contains(out, "[ok] credentials: Alipay app "+cc.AppID+" accepted") {
			t.Fatalf("doctor: exit %d\n%s%s", code, out, errOut)
		}
		out, _, _ = posagent(t, dir, "", env, "status", "--config", config)
		if strings.Contains(out, "PROVISION") || strings.Contains(out, "check-in") || !strings.Contains(out, "Alipay face-to-face, app "+cc.AppID) {
			t.Errorf("status talks of provisioning on Alipay:\n%s", out)
		}
	})
	t.Run("yedpay", func(t *testing.T) {
		dir := t.TempDir()
		sb := yedpaysandbox.New(yedpaysandbox.Options{})
		srv := httptest.NewServer(sb)
		t.Cleanup(srv.Close)
		cc := sb.ClientConfig(srv.URL)
		token := filepath.Join(dir, "token")
		config := filepath.Join(dir, "posagent.toml")
		os.WriteFile(config, []byte(fmt.Sprintf("[terminal]\ndatabase = %q\n[gateway]\nkind = \"yedpay\"\nurl = %q\nstore_id = %q\naccess_token_file = %q\ngateway_id = %d\n[keypad]\ndriver = \"none\"\n[log]\nformat = \"json\"\n",
			filepath.Join(dir, "state", "posagent.db"), srv.URL, cc.StoreID, token, int(cc.GatewayID))), 0o600)
		os.WriteFile(token, []byte(cc.AccessToken+"\n"), 0o600)
		service(t, config)
		out, errOut, code := posagent(t, dir, "", env, "doctor", "--config", config)
		if code != 0 || !strings.Contains(out, "(checked by the running service)") || !strings.Contains(out, "[ok] credentials: Yedpay") {
			t.Fatalf("doctor: exit %d\n%s%s", code, out, errOut)
		}
		out, _, _ = posagent(t, dir, "", env, "status", "--config", config)
		if strings.Contains(out, "PROVISION") || !strings.Contains(out, "Yedpay, store "+cc.StoreID) {
			t.Errorf("status:\n%s", out)
		}
		// The service reads the token when it starts; the doctor reads it
		// again, so a token replaced on disk is checked at once.
		os.WriteFile(token, []byte("expired-token\n"), 0o600)
		out, errOut, code = posagent(t, dir, "", env, "doctor", "--config", config)
		if code != 1 || !strings.Contains(out, "[FAIL] credentials: Yedpay refused") || !strings.Contains(out, "gateway.access_token_file") {
			t.Fatalf("doctor with a wrong token: exit %d\n%s%s", code, out, errOut)
		}
	})
}

// readBundle returns the files of a support bundle by name.
func readBundle(t *testing.T, gz []byte) map[string]string {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		t.Fatalf("not gzip: %v", err)
	}
	tr := tar.NewReader(zr)
	files := map[string]string{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		files[strings.TrimPrefix(h.Name, "posagent-support/")] = string(b)
	}
}

// TestSupportBundleAndUploadLog: the bundle holds what issue 17 lists and
// no key; upload-log sends it through /terminal/uploadLog, where the Upay
// sandbox stores it (upay-v2.md: "gzip bytes of the log file (signed like
// any request)"), with or without the service running.
func TestSupportBundleAndUploadLog(t *testing.T) {
	r := newRig(t, nil)
	r.provision()
	bundle := filepath.Join(r.dir, "bundle.tar.gz")
	out, errOut, code := posagent(t, r.dir, "", nil, "support-bundle", "-o", bundle, "--config", r.config)
	if code != 0 || !strings.Contains(out, "support bundle written") {
		t.Fatalf("support-bundle: %d\n%s%s", code, out, errOut)
	}
	gz, err := os.ReadFile(bundle)
	if err != nil {
		t.Fatal(err)
	}
	files := readBundle(t, gz)
	creds := openTestDBCopy(t, r.db)
	for name, want := range map[string]string{
		"version.txt": "posagent ", "config.toml": "E2E Shop", "status.txt": "not running",
		"doctor.txt": "[ok] credentials: terminal", "storage.json": `"schema_version"`, "journal.txt": "",
	} {
		text, ok := files[name]
		if !ok || !strings.Contains(text, want) {
			t.Errorf("%s missing or without %q:\n%s", name, want, text)
		}
	}
	for name, text := range files {
		if strings.Contains(text, creds.TerminalKey) || strings.Contains(text, creds.PrevKey) || strings.Contains(text, "sandbox-vendor-key") {
			t.Errorf("%s holds a secret", name)
		}
	}
	if fi, _ := os.Stat(bundle); fi.Mode().Perm() != 0o600 {
		t.Errorf("bundle mode %v", fi.Mode().Perm())
	}
	out, errOut, code = posagent(t, r.dir, "", nil, "upload-log", "--config", r.config)
	if code != 0 || !strings.Contains(out, "log uploaded") {
		t.Fatalf("upload-log: %d\n%s%s", code, out, errOut)
	}
	r.start()
	out, errOut, code = posagent(t, r.dir, "", nil, "upload-log", "--config", r.config)
	if code != 0 || !strings.Contains(out, "sent by the running service") {
		t.Fatalf("upload-log while running: %d\n%s%s", code, out, errOut)
	}
	ups := r.sb.Uploads()
	if len(ups) != 2 {
		t.Fatalf("%d uploads at the sandbox", len(ups))
	}
	for _, u := range ups {
		if u.Terminal != creds.TerminalSN {
			t.Errorf("upload from %q", u.Terminal)
		}
		if f := readBundle(t, u.Gzip); !strings.Contains(f["doctor.txt"], "credentials") {
			t.Errorf("uploaded bundle lacks the doctor's output: %v", f)
		}
	}
	if f := readBundle(t, ups[1].Gzip); !strings.Contains(f["doctor.txt"], "(checked by the running service)") || !strings.Contains(f["status.txt"], "running (pid") ||
		!strings.Contains(f["storage.json"], `"schema_version"`) {
		t.Errorf("bundle made while running:\n%s\n%s", f["status.txt"], f["doctor.txt"])
	}
	// Alipay and Yedpay have no such call: said plainly.
	_, errOut, code = posagent(t, r.dir, "", nil, "upload-log", "--config", r.config, "--set", "gateway.kind=yedpay")
	if code != 1 || !strings.Contains(errOut, "only Upay takes log uploads") {
		t.Errorf("upload-log on yedpay: %d\n%s", code, errOut)
	}
}

// TestGenDocs: man pages and completions come from the command tree, under
// the names cmd/mkdeb installs (cmd/mkdeb/docs.go: NAME.SECTION pages;
// posagent.bash, posagent.zsh, posagent.fish), byte for byte the same for
// the same SOURCE_DATE_EPOCH (reproducible packages).
func TestGenDocs(t *testing.T) {
	gen := func() (string, string) {
		dir := t.TempDir()
		man, comp := filepath.Join(dir, "man"), filepath.Join(dir, "completions")
		out, errOut, code := posagent(t, dir, "", []string{"SOURCE_DATE_EPOCH=1764547200"}, "gen-docs", "--man", man, "--completions", comp)
		if code != 0 {
			t.Fatalf("gen-docs: %d\n%s%s", code, out, errOut)
		}
		return man, comp
	}
	man, comp := gen()
	man2, _ := gen()
	for _, page := range []string{"posagent.1", "posagent-orders-export.1", "posagent-refund.1", "posagent-doctor.1", "posagent-support-bundle.1"} {
		a, err := os.ReadFile(filepath.Join(man, page))
		if err != nil {
			t.Errorf("no %s: %v", page, err)
			continue
		}
		if b, _ := os.ReadFile(filepath.Join(man2, page)); !bytes.Equal(a, b) {
			t.Errorf("%s differs between two runs", page)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(man, "posagent-orders-export.1")); !bytes.Contains(b, []byte("format")) {
		t.Errorf("orders export page lacks --format:\n%s", b)
	}
	entries, _ := os.ReadDir(man)
	for _, e := range entries {
		if strings.Contains(e.Name(), "gen-docs") || !regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*\.1$`).MatchString(e.Name()) {
			t.Errorf("man page %s", e.Name())
		}
	}
	for _, f := range []string{"posagent.bash", "posagent.zsh", "posagent.fish"} {
		b, err := os.ReadFile(filepath.Join(comp, f))
		if err != nil || !bytes.Contains(b, []byte("posagent")) {
			t.Errorf("%s: %v", f, err)
		}
	}
	if bash, err := exec.LookPath("bash"); err == nil {
		if out, err := exec.Command(bash, "-n", filepath.Join(comp, "posagent.bash")).CombinedOutput(); err != nil {
			t.Errorf("bash -n posagent.bash: %v\n%s", err, out)
		}
	}
	// The completion engine answers from the same definitions.
	out, _, _ := posagent(t, t.TempDir(), "", nil, "__complete", "orders", "export", "--format", "")
	if !strings.Contains(out, "csv") || !strings.Contains(out, "json") {
		t.Errorf("completing --format: %q", out)
	}
}

// TestArchiveCommand: final orders before the day leave the live database
// for the archive files and are still shown (storage's Archive contract,
// storage/archive.go).
func TestArchiveCommand(t *testing.T) {
	s := newSeedTree(t)
	out, errOut, code := posagent(t, s.dir, "", nil, "orders", "archive", "--before", "2026-11-25", "--config", s.config)
	if code != 0 || !strings.Contains(out, "archived: 1 orders") {
		t.Fatalf("archive: %d\n%s%s", code, out, errOut)
	}
	if m, _ := filepath.Glob(filepath.Join(s.dir, "state", "archive", "orders-2026-11*.jsonl.gz")); len(m) != 1 {
		t.Errorf("archive files: %v", m)
	}
	if out, _, code := posagent(t, s.dir, "", nil, "orders", "show", s.old, "--config", s.config); code != 0 || !strings.Contains(out, "12.50") {
		t.Errorf("archived order not shown: %d\n%s", code, out)
	}
	_, errOut, code = posagent(t, s.dir, "", nil, "orders", "archive", "--config", s.config)
	if code != 2 || !strings.Contains(errOut, "storage.retention") {
		t.Errorf("archive without a day: %d\n%s", code, errOut)
	}
}

// TestPINSet: the PIN typed twice reaches the counter's PIN file, where
// the counter's own check accepts it (agent/counter: SetPIN, PINs.Verify).
func TestPINSet(t *testing.T) {
	s := newSeedTree(t)
	path := filepath.Join(s.dir, "state", counter.PINFile)
	if _, errOut, code := posagent(t, s.dir, "2468\n1357\n", nil, "pin", "set", "--config", s.config); code != 1 || !strings.Contains(errOut, "the two PINs differ") {
		t.Errorf("different PINs: %d\n%s", code, errOut)
	}
	if _, errOut, code := posagent(t, s.dir, "12\n12\n", nil, "pin", "set", "--config", s.config); code != 1 || !strings.Contains(errOut, "4 to 8 digits") || strings.Contains(errOut, "counter:") {
		t.Errorf("short PIN: %d\n%s", code, errOut)
	}
	if _, err := os.Stat(path); err == nil {
		t.Fatal("a refused PIN was written")
	}
	if out, errOut, code := posagent(t, s.dir, "2468\n2468\n", nil, "pin", "set", "--config", s.config); code != 0 || !strings.Contains(out, "supervisor PIN set") {
		t.Fatalf("pin set: %d\n%s%s", code, out, errOut)
	}
	if out, errOut, code := posagent(t, s.dir, "97531\n97531\n", nil, "pin", "set", "technician", "--config", s.config); code != 0 || !strings.Contains(out, "technician PIN set") {
		t.Fatalf("pin set technician: %d\n%s%s", code, out, errOut)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("PIN file: %v %v", fi, err)
	}
	pins := counter.NewPINs(path, time.Now)
	if role, _, err := pins.Verify("2468"); err != nil || role != counter.Supervisor {
		t.Errorf("supervisor PIN: %v %v", role, err)
	}
	if role, _, err := pins.Verify("97531"); err != nil || role != counter.Technician {
		t.Errorf("technician PIN: %v %v", role, err)
	}
	if b, _ := os.ReadFile(path); bytes.Contains(b, []byte("2468")) {
		t.Error("the PIN is stored in clear")
	}
	if _, _, code := posagent(t, s.dir, "", nil, "pin", "set", "owner", "--config", s.config); code != 2 {
		t.Errorf("unknown role: exit %d", code)
	}
}

// TestMetricsFromService: a paid sale shows in the metrics served on
// metrics.listen and, after SIGTERM, in the textfile for node_exporter,
// both read with the client library's own parser (prometheus/common
// expfmt); names and labels as docs/monitoring/README.md lists them.
func TestMetricsFromService(t *testing.T) {
	r := newRig(t, nil)
	prom := filepath.Join(r.dir, "posagent.prom")
	r.writeConfig(fmt.Sprintf("[metrics]\ntextfile = %q\nlisten = \"127.0.0.1:0\"\n", prom))
	r.provision()
	p := r.start()
	var addr string // logged before "posagent running", which start waited for
	for _, line := range strings.Split(p.logText(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == "metrics served" {
			addr, _ = m["addr"].(string)
		}
	}
	if addr == "" {
		t.Fatalf("no metrics address logged:\n%s", p.logText())
	}
	r.typeKeys("3.50\r")
	sn := p.waitFor("awaiting", orderTo("awaiting_payment"))["client_sn"].(string)
	if err := r.sb.Pay(sn); err != nil {
		t.Fatal(err)
	}
	// The order's "paid" log line is written when the engine stores it;
	// the sale is counted after that, when the engine reports the event,
	// just before the screen shows it. So wait for the screen.
	p.waitFor("paid on screen", screen("paid"))
	parse := func(text io.Reader) map[string]*dto.MetricFamily {
		t.Helper()
		parser := expfmt.NewTextParser(model.UTF8Validation)
		fams, err := parser.TextToMetricFamilies(text)
		if err != nil {
			t.Fatalf("metrics do not parse: %v", err)
		}
		return fams
	}
	paid := func(fams map[string]*dto.MetricFamily) float64 {
		for _, m := range fams["posagent_sales_total"].GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["gateway"] == "upay" && labels["outcome"] == "paid" {
				return m.GetCounter().GetValue()
			}
		}
		return 0
	}
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	fams := parse(resp.Body)
	resp.Body.Close()
	if got := paid(fams); got != 1 {
		t.Errorf("posagent_sales_total{gateway=upay,outcome=paid} = %v, want 1", got)
	}
	for _, name := range []string{"posagent_build_info", "posagent_database_size_bytes", "posagent_last_checkin_success_timestamp_seconds", "posagent_gateway_request_duration_seconds"} {
		if fams[name] == nil {
			t.Errorf("no %s", name)
		}
	}
	if h := fams["posagent_gateway_request_duration_seconds"].GetMetric(); len(h) == 0 || h[0].GetHistogram().GetSampleCount() == 0 {
		t.Errorf("gateway calls not timed: %v", h)
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	if err := <-p.done; err != nil {
		t.Fatalf("exit: %v", err)
	}
	f, err := os.Open(prom)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if got := paid(parse(f)); got != 1 {
		t.Errorf("textfile after stop: paid = %v, want 1", got)
	}
}

// TestShopDays: --since names a day of the shop's time zone
// (terminal.timezone; by default Asia/Shanghai for Upay, as issue 17's
// brief sets it), not the Pi's: 2026-11-24 20:00 UTC is already the 25th
// in Shanghai.
func TestShopDays(t *testing.T) {
	s := newSeedTree(t)
	db, err := storage.Open(s.db, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.CreateOrder(&storage.Order{ClientSN: "EARLY0004", AmountCents: 500, State: "paid", Final: true,
		CreatedAt: time.Date(2026, 11, 24, 20, 0, 0, 0, time.UTC)}, "")
	db.Close()
	for zone, want := range map[string]bool{"": true, "Asia/Shanghai": true, "UTC": false, "Europe/London": false} {
		args := []string{"orders", "export", "--since", "2026-11-25", "--config", s.config}
		if zone != "" {
			args = append(args, "--set", "terminal.timezone="+zone)
		}
		out, errOut, code := posagent(t, s.dir, "", []string{"TZ=UTC"}, args...)
		if code != 0 || strings.Contains(out, "EARLY0004") != want {
			t.Errorf("zone %q: exit %d, EARLY0004 exported: %v, want %v\n%s%s", zone, code, !want, want, out, errOut)
		}
	}
}
