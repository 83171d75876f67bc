package main

import (
	"bytes"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
)

// TestExampleConfig: the shipped example decodes strictly and equals the
// defaults, so the documentation and the code cannot drift apart.
func TestExampleConfig(t *testing.T) {
	cfg := defaultConfig()
	if err := decodeStrict(exampleConfig, "example", &cfg); err != nil {
		t.Fatal(err)
	}
	if err := cfg.validate(); err != nil {
		t.Fatal(err)
	}
	def := defaultConfig()
	got, _ := toml.Marshal(cfg)
	want, _ := toml.Marshal(def)
	if string(got) != string(want) {
		t.Fatalf("example differs from the defaults:\n%s\nvs\n%s", got, want)
	}
}

func TestConfigErrorsNameTheKey(t *testing.T) {
	dir := t.TempDir()
	for name, tc := range map[string]struct{ file, want string }{
		"unknown key":   {"[terminal]\nmerchnt = \"x\"\n", "terminal.merchnt"},
		"bad type":      {"[terminal]\nmax_amount = 12\n", "max_amount"},
		"bad amount":    {"[terminal]\nmax_amount = \"12.345\"\n", "terminal.max_amount"},
		"bad window":    {"[terminal]\npayment_window = \"5s\"\n", "terminal.payment_window"},
		"bad duration":  {"[terminal]\npayment_window = \"soon\"\n", "payment_window"},
		"bad gateway":   {"[gateway]\nkind = \"paypal\"\n", "gateway.kind"},
		"plain http":    {"[gateway]\nurl = \"http://api.example.com\"\n", "gateway.url"},
		"bad keypad":    {"[keypad]\ndriver = \"usb\"\n", "keypad.driver"},
		"bad keymap":    {"[keypad.keymap]\nenter = [\"\\\\q\"]\n", "keypad.keymap"},
		"bad display":   {"[[display]]\ndriver = \"crt\"\n", "display[0].driver"},
		"printer dev":   {"[printer]\ndriver = \"tcp\"\n", "printer.device"},
		"bad log level": {"[log]\nlevel = \"loud\"\n", "log.level"},
		"not toml":      {"[terminal\n", "posagent.toml"},
	} {
		p := filepath.Join(dir, strings.ReplaceAll(name, " ", "_")+".toml")
		os.WriteFile(p, []byte(tc.file), 0o600)
		_, err := loadConfig(p, true, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			if !(name == "not toml" && err != nil) {
				t.Errorf("%s: %v, want it to name %q", name, err, tc.want)
			}
		}
	}
	if _, err := loadConfig(filepath.Join(dir, "missing.toml"), true, nil); err == nil {
		t.Error("a missing file named with --config is not an error")
	}
}

func TestOverrides(t *testing.T) {
	cfg, err := loadConfig("/nonexistent/posagent.toml", false, []string{
		"terminal.merchant=Corner Shop", "terminal.payment_window=90s", "printer.paper_mm=80", `log.level="debug"`,
	})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Terminal.Merchant != "Corner Shop" || cfg.Terminal.PaymentWindow != 90*time.Second || cfg.Printer.PaperMM != 80 || cfg.Log.Level != "debug" {
		t.Fatalf("%+v", cfg)
	}
	for _, bad := range []string{"nokey", "terminal.nope=1", "terminal.payment_window=1s"} {
		if _, err := loadConfig("/nonexistent", false, []string{bad}); err == nil {
			t.Errorf("--set %s accepted", bad)
		}
	}
}

// TestDoctorWithCAFile: doctor trusts gateway.ca_file (a test gateway with
// its own CA) instead of failing, and never turns verification off.
func TestDoctorWithCAFile(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600)
	cfgPath := filepath.Join(dir, "posagent.toml")
	os.WriteFile(cfgPath, []byte(fmt.Sprintf("[terminal]\ndatabase = %q\n[gateway]\nurl = %q\nca_file = %q\n[keypad]\ndriver = \"none\"\n",
		filepath.Join(dir, "posagent.db"), srv.URL, ca)), 0o600)
	var out, errOut bytes.Buffer
	run([]string{"doctor", "--config", cfgPath}, strings.NewReader(""), &out, &errOut)
	okLine := func(s string) bool { return strings.Contains(s, "✔ gateway") || strings.Contains(s, "[ok] gateway") }
	failLine := func(s string) bool {
		return strings.Contains(s, "✘ gateway") || strings.Contains(s, "[FAIL] gateway")
	}
	if !okLine(out.String()) {
		t.Fatalf("doctor with ca_file:\n%s%s", out.String(), errOut.String())
	}
	// Without the CA file the same gateway is refused.
	os.WriteFile(cfgPath, []byte(fmt.Sprintf("[terminal]\ndatabase = %q\n[gateway]\nurl = %q\n[keypad]\ndriver = \"none\"\n",
		filepath.Join(dir, "posagent.db"), srv.URL)), 0o600)
	out.Reset()
	run([]string{"doctor", "--config", cfgPath}, strings.NewReader(""), &out, &errOut)
	if !failLine(out.String()) || !strings.Contains(out.String(), "certificate") {
		t.Fatalf("doctor without ca_file accepted an unknown CA:\n%s", out.String())
	}
}
