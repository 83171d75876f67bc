package main

import (
	"bytes"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"

	"posagent/display"
)

// TestExampleConfig: the shipped example decodes strictly and equals the
// defaults, so the documentation and the code cannot drift apart.
func TestExampleConfig(t *testing.T) {
	p := filepath.Join(t.TempDir(), "posagent.toml")
	os.WriteFile(p, []byte(exampleConfig), 0o600)
	cfg, err := loadConfig(p, true, nil)
	if err != nil {
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
		"bad type":      {"[terminal]\nmerchant = true\n", "terminal.merchant: true is not text"},
		"no unit":       {"[terminal]\npayment_window = 240\n", "terminal.payment_window: \"240\" needs a unit"},
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

// TestConfigPlainWords: the values a technician typed in issue 17, each
// answered with the key and what is allowed (../shared/spec: none; the
// wording is the issue's: "durations need units; digits accepted for
// string keys; every bad value names the key and says what is allowed").
func TestConfigPlainWords(t *testing.T) {
	for _, tc := range []struct{ set, want string }{
		{"terminal.payment_window=5", `terminal.payment_window: "5" needs a unit, e.g. 240s or 4m; allowed 30s..30m`},
		{"terminal.payment_window=soon", `terminal.payment_window: "soon" is not a duration`},
		{"terminal.payment_window=5s", "terminal.payment_window: 5s is outside the allowed 30s..30m"},
		{"display.driver=crt", "display[0].driver: \"crt\" is not a display driver; use st7789, ili9341"},
		{"display[2].driver=png", "only 0 [[display]] tables"},
		{"gateway.kind=paypal", "gateway.kind: \"paypal\" is not a gateway here; use upay, alipay or yedpay"},
		{"printer.paper_mm=wide", `printer.paper_mm: "wide" is not a whole number`},
		{"printer.native_qr=maybe", `printer.native_qr: "maybe" is not true or false`},
		{"terminal.locale=fr", "terminal.locale: \"fr\" is not a locale here; use zh-CN, zh-HK or en"},
		{"terminal.timezone=Mars/Olympus", "terminal.timezone: \"Mars/Olympus\" is not a time zone name"},
		{"metrics.listen=:9464", "metrics.listen: \":9464\" listens on every network"},
		{"storage.retention=forever", "storage.retention: \"forever\""},
		{"terminal.merchnt=x", "terminal.merchnt: unknown key (did you mean merchant?)"},
		{"keypad.keymap=enter", "keypad.keymap: \"enter\": write it in TOML"},
	} {
		_, err := loadConfig("/nonexistent/posagent.toml", false, []string{tc.set})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("--set %s: %v\nwant %q", tc.set, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "toml:") {
			t.Errorf("--set %s: a decoder's words reach the technician: %v", tc.set, err)
		}
	}
	cfg, err := loadConfig("/nonexistent/posagent.toml", false, []string{
		"gateway.kind=alipay", "gateway.app_id=2021000000000001", "display.driver=st7789", "display.width=240",
		"display.spi_port=/dev/spidev0.0", "terminal.timezone=Asia/Hong_Kong", "metrics.textfile=/var/lib/node/posagent.prom",
		"metrics.listen=127.0.0.1:9464", "storage.retention=400d", "printer.native_qr=yes", "keypad.keymap={enter = [\"\\r\"]}",
		"display.column_offset=4", // an optional key (*int in display.Config)
	})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Gateway.AppID != "2021000000000001" || len(cfg.Display) != 1 || cfg.Display[0].Driver != "st7789" || cfg.Display[0].Width != 240 ||
		!cfg.Printer.NativeQR || cfg.Keypad.Keymap["enter"][0] != "\r" || cfg.Metrics.Listen != "127.0.0.1:9464" ||
		cfg.Display[0].ColumnOffset == nil || *cfg.Display[0].ColumnOffset != 4 {
		t.Fatalf("%+v", cfg)
	}
	if r, _ := cfg.retention(); r != 400*24*time.Hour {
		t.Errorf("retention %s", r)
	}
	if cfg.locale() != "zh-CN" || cfg.location().String() != "Asia/Hong_Kong" {
		t.Errorf("locale %s, zone %s", cfg.locale(), cfg.location())
	}
	// Digits in a file are text too; the locale and zone follow the gateway.
	p := filepath.Join(t.TempDir(), "posagent.toml")
	os.WriteFile(p, []byte("[gateway]\nkind = \"yedpay\"\nstore_id = 12345\n"), 0o600)
	cfg, err = loadConfig(p, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Gateway.StoreID != "12345" || cfg.locale() != "zh-HK" || cfg.location().String() != "Asia/Hong_Kong" {
		t.Errorf("store %q locale %s zone %s", cfg.Gateway.StoreID, cfg.locale(), cfg.location())
	}
	// A display table in the file and a --set for it.
	os.WriteFile(p, []byte("[[display]]\ndriver = \"png\"\npath = \"/tmp/x.png\"\n"), 0o600)
	cfg, err = loadConfig(p, true, []string{"display.mono=true"})
	if err != nil || len(cfg.Display) != 1 || !cfg.Display[0].Mono || cfg.Display[0].Path != "/tmp/x.png" {
		t.Fatalf("%+v %v", cfg.Display, err)
	}
}

// TestLocaleReachesPrinterAndDisplays: terminal.locale and
// terminal.timezone (defaults per gateway as issue 17's brief sets them:
// zh-CN and Asia/Shanghai for upay/alipay, zh-HK and Asia/Hong_Kong for
// yedpay) are what the printer and every display are opened with.
func TestLocaleReachesPrinterAndDisplays(t *testing.T) {
	cfg, err := loadConfig("/nonexistent", false, []string{"gateway.kind=yedpay", "display.driver=png", "display[1].driver=term"})
	if err != nil {
		t.Fatal(err)
	}
	pc := printerConfigFor(cfg)
	if pc.Locale != "zh-HK" || pc.Location.String() != "Asia/Hong_Kong" || pc.Currency != "HKD" {
		t.Errorf("printer: %q %v %q", pc.Locale, pc.Location, pc.Currency)
	}
	for i, d := range displayConfigs(cfg) {
		if d.Locale != "zh-HK" || d.TimeZone.String() != "Asia/Hong_Kong" {
			t.Errorf("display[%d]: %q %v", i, d.Locale, d.TimeZone)
		}
	}
	cfg, err = loadConfig("/nonexistent", false, []string{"terminal.locale=en", "terminal.timezone=Europe/London"})
	if err != nil {
		t.Fatal(err)
	}
	if pc := printerConfigFor(cfg); pc.Locale != "en" || pc.Location.String() != "Europe/London" || pc.Currency != "CNY" {
		t.Errorf("printer: %q %v %q", pc.Locale, pc.Location, pc.Currency)
	}
}

// TestExampleNamesEveryDisplayKey: the example lists every key a
// [[display]] table takes, read from display.Config's own toml tags.
func TestExampleNamesEveryDisplayKey(t *testing.T) {
	ty := reflect.TypeOf(display.Config{})
	for i := 0; i < ty.NumField(); i++ {
		tag, _, _ := strings.Cut(ty.Field(i).Tag.Get("toml"), ",")
		if tag == "" || tag == "-" {
			continue
		}
		if !regexp.MustCompile(`(?m)^#.*\b` + tag + `\b`).MatchString(exampleConfig) {
			t.Errorf("posagent.example.toml does not name the display key %s", tag)
		}
	}
}
