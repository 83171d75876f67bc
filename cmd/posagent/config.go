package main

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"math"
	"net/http"
	"os"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // terminal.timezone must not depend on the Pi's zoneinfo package

	"github.com/BurntSushi/toml"

	"posagent/agent/keypad"
	"posagent/display"
	"posagent/display/locale"
)

// DefaultConfigPath is where the package installs the configuration.
const DefaultConfigPath = "/etc/posagent/posagent.toml"

// exampleConfig is the documented example, installed as the conffile. A
// test decodes it, so it cannot drift from the struct below.
//
//go:embed posagent.example.toml
var exampleConfig string

// Config is the whole configuration. Zero values take the defaults given
// in posagent.example.toml; unknown keys and bad values are errors that
// name the key and say what is allowed.
type Config struct {
	Terminal TerminalConfig   `toml:"terminal"`
	Gateway  GatewayConfig    `toml:"gateway"`
	Keypad   KeypadConfig     `toml:"keypad"`
	Display  []display.Config `toml:"display"`
	Printer  PrinterConfig    `toml:"printer"`
	Log      LogConfig        `toml:"log"`
	Metrics  MetricsConfig    `toml:"metrics"`
	Storage  StorageConfig    `toml:"storage"`

	// fromSet: --set values were given (not a configuration key).
	fromSet bool
}

// TerminalConfig is about the shop and the sale.
type TerminalConfig struct {
	Merchant      string        `toml:"merchant"`
	Subject       string        `toml:"subject"`
	Operator      string        `toml:"operator"`
	MaxAmount     string        `toml:"max_amount"`
	PaymentWindow time.Duration `toml:"payment_window"`
	QueueTTL      time.Duration `toml:"queue_ttl"`
	Database      string        `toml:"database"`
	PrintQR       bool          `toml:"print_qr"`
	PrintReceipts bool          `toml:"print_receipts"`
	// Locale of screens and receipts: zh-CN, zh-HK or en. Empty: zh-HK
	// for Yedpay (a Hong Kong gateway), zh-CN otherwise. See Locale.
	Locale string `toml:"locale"`
	// Timezone is an IANA name for the times on receipts and reports.
	// Empty: by locale (Asia/Hong_Kong for zh-HK, else Asia/Shanghai).
	Timezone string `toml:"timezone"`
	// Font is a TTF/OTF/TTC file for characters the built-in glyph table
	// lacks (merchant names, subjects, gateway messages). Empty: Debian's
	// fonts-wqy-microhei if installed; without it such characters show as
	// a hollow box, never as "?".
	Font string `toml:"font"`
}

// GatewayConfig chooses and configures the payment gateway.
type GatewayConfig struct {
	Kind    string        `toml:"kind"` // upay, alipay, yedpay
	URL     string        `toml:"url"`
	CAFile  string        `toml:"ca_file"`
	Timeout time.Duration `toml:"timeout"`
	// Upay
	Payway    string `toml:"payway"`
	SubPayway string `toml:"sub_payway"`
	// Alipay
	AppID               string `toml:"app_id"`
	AppPrivateKeyFile   string `toml:"app_private_key_file"`
	AlipayPublicKeyFile string `toml:"alipay_public_key_file"`
	// Yedpay
	StoreID         string `toml:"store_id"`
	AccessTokenFile string `toml:"access_token_file"`
	GatewayID       int    `toml:"gateway_id"`
	Currency        string `toml:"currency"`

	// wrap, when set, wraps each gateway client's transport (the
	// service's metrics). Not a configuration key.
	wrap func(http.RoundTripper) http.RoundTripper
}

// KeypadConfig says where keys come from.
type KeypadConfig struct {
	Driver string              `toml:"driver"` // serial, stdin, none
	Port   string              `toml:"port"`
	VID    string              `toml:"vid"`
	PID    string              `toml:"pid"`
	Baud   int                 `toml:"baud"`
	Keymap map[string][]string `toml:"keymap"`
}

// PrinterConfig is the receipt printer (see printer.Config).
type PrinterConfig struct {
	Driver   string `toml:"driver"` // serial, usb, tcp, file, or "" for none
	Device   string `toml:"device"`
	Baud     int    `toml:"baud"`
	Parity   string `toml:"parity"`
	PaperMM  int    `toml:"paper_mm"`
	NativeQR bool   `toml:"native_qr"`
	Charset  string `toml:"charset"`
	TextFont string `toml:"text_font"`
	Cut      string `toml:"cut"`
	NoStatus bool   `toml:"no_status"`
}

// LogConfig is for the journal.
type LogConfig struct {
	Format string `toml:"format"` // auto, text, json
	Level  string `toml:"level"`  // debug, info, warn, error
}

// MetricsConfig is where the fleet's Prometheus reads the terminal.
type MetricsConfig struct {
	// Textfile is a *.prom file for node_exporter's textfile collector
	// (the usual Raspberry Pi set-up), rewritten atomically. Empty: none.
	Textfile string `toml:"textfile"`
	// Listen is a local address (127.0.0.1:9464) serving /metrics. Empty: none.
	Listen string `toml:"listen"`
}

// StorageConfig is about the order history.
type StorageConfig struct {
	// Retention is how long final orders stay in the live database before
	// `posagent orders archive` may move them out ("400d", "9600h").
	// Empty: forever.
	Retention string `toml:"retention"`
}

func defaultConfig() Config {
	return Config{
		Terminal: TerminalConfig{Merchant: "posagent", Operator: "cashier", MaxAmount: "5000.00",
			PaymentWindow: 240 * time.Second, QueueTTL: 5 * time.Minute, Database: "/var/lib/posagent/posagent.db",
			PrintReceipts: true},
		Gateway: GatewayConfig{Kind: "upay", URL: "https://api.shouqianba.com", Timeout: 15 * time.Second},
		Keypad:  KeypadConfig{Driver: "serial", Port: "/dev/ttyUSB0", Baud: 9600},
		Log:     LogConfig{Format: "auto", Level: "info"},
	}
}

// Allowed values, named in the errors.
var (
	gatewayKinds   = []string{"upay", "alipay", "yedpay"}
	keypadDrivers  = []string{"serial", "stdin", "none"}
	displayDrivers = []string{"st7789", "ili9341", "ssd1306", "ssd1306-i2c", "st7567", "epd2in13", "epd2in13v2", "epd2in13v3", "epd2in13v4", "png", "term"}
	printerDrivers = []string{"serial", "usb", "tcp", "file"}
	logFormats     = []string{"auto", "text", "json"}
	logLevels      = []string{"debug", "info", "warn", "error"}
	locales        = []string{"zh-CN", "zh-HK", "en"}
)

// loadConfig reads path (if it exists, or if it was named explicitly),
// then applies each "key=value" override, then checks the result.
//
// Values go through a generic map first, so that every mistake is told in
// the configuration's own words: a duration without a unit, digits where
// text is expected (an Alipay app id is all digits: taken as text), a
// display key without a [[display]] table.
func loadConfig(path string, explicit bool, overrides []string) (Config, error) {
	cfg := defaultConfig()
	doc := map[string]any{}
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		if _, err := toml.Decode(string(b), &doc); err != nil {
			return cfg, fmt.Errorf("%s: %s", path, strings.TrimPrefix(err.Error(), "toml: "))
		}
		if err := normalize(doc, reflect.TypeOf(cfg), "", path+": "); err != nil {
			return cfg, err
		}
	case errors.Is(err, os.ErrNotExist) && !explicit:
		// No file: defaults and overrides only. Commands say so.
	case errors.Is(err, os.ErrNotExist):
		return cfg, fmt.Errorf("the configuration file %s does not exist", path)
	default:
		return cfg, fmt.Errorf("reading the configuration: %w", err)
	}
	for _, o := range overrides {
		if err := setOverride(doc, o); err != nil {
			return cfg, err
		}
	}
	if err := normalize(doc, reflect.TypeOf(cfg), "", "--set "); err != nil {
		return cfg, err
	}
	var buf bytes.Buffer
	if err := toml.NewEncoder(&buf).Encode(doc); err != nil {
		return cfg, fmt.Errorf("configuration: %w", err)
	}
	md, err := toml.Decode(buf.String(), &cfg)
	if err != nil {
		return cfg, fmt.Errorf("configuration: %s", strings.TrimPrefix(err.Error(), "toml: "))
	}
	if und := md.Undecoded(); len(und) > 0 {
		return cfg, fmt.Errorf("%s: unknown key", und[0])
	}
	return cfg, cfg.validate()
}

// setOverride puts one --set section.key=value into doc as text; normalize
// turns it into the key's type. "display.key" means the first display
// (created if there is none), "display[1].key" the second.
func setOverride(doc map[string]any, o string) error {
	k, v, ok := strings.Cut(o, "=")
	k = strings.TrimSpace(k)
	if !ok || k == "" {
		return fmt.Errorf("--set %q: want section.key=value, e.g. --set terminal.merchant=\"Corner Shop\"", o)
	}
	path := strings.Split(k, ".")
	if len(path) < 2 {
		return fmt.Errorf("--set %s: want section.key=value, e.g. --set log.level=debug", k)
	}
	section := path[0]
	idx := 0
	if i := strings.IndexByte(section, '['); i > 0 && strings.HasSuffix(section, "]") {
		n, err := strconv.Atoi(section[i+1 : len(section)-1])
		if err != nil || n < 0 {
			return fmt.Errorf("--set %s: %q is not an index", k, section[i:])
		}
		section, idx = section[:i], n
	}
	var m map[string]any
	if section == "display" {
		list, _ := doc["display"].([]map[string]any)
		switch {
		case idx < len(list):
		case idx == len(list):
			list = append(list, map[string]any{})
		default:
			return fmt.Errorf("--set %s: there are only %d [[display]] tables", k, len(list))
		}
		doc["display"] = list
		m = list[idx]
	} else {
		if idx != 0 {
			return fmt.Errorf("--set %s: only display takes an index", k)
		}
		sub, ok := doc[section].(map[string]any)
		if !ok {
			sub = map[string]any{}
			doc[section] = sub
		}
		m = sub
	}
	for _, p := range path[1 : len(path)-1] {
		sub, ok := m[p].(map[string]any)
		if !ok {
			sub = map[string]any{}
			m[p] = sub
		}
		m = sub
	}
	m[path[len(path)-1]] = setValue(v)
	return nil
}

// setValue is an override's text; a quoted TOML string, an array or an
// inline table is taken as TOML (the shell may have kept the quotes).
func setValue(v string) any {
	t := strings.TrimSpace(v)
	if strings.HasPrefix(t, `"`) || strings.HasPrefix(t, "'") || strings.HasPrefix(t, "[") || strings.HasPrefix(t, "{") {
		var m map[string]any
		if _, err := toml.Decode("v = "+t, &m); err == nil {
			return m["v"]
		}
	}
	return setText(v)
}

// setText marks a value that came as text from the command line: it may
// be converted to any scalar type.
type setText string

var durationType = reflect.TypeOf(time.Duration(0))

// normalize checks doc against the struct type t (by toml tags) and
// converts values in place to what the strict decoder wants, with one
// plain error per bad value, each naming the key.
func normalize(doc map[string]any, t reflect.Type, prefix, source string) error {
	var errs []error
	keys := make([]string, 0, len(doc))
	for k := range doc {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		key := prefix + k
		f, ok := fieldByTag(t, k)
		if !ok {
			errs = append(errs, fmt.Errorf("%s%s: unknown key%s", source, key, suggest(t, k)))
			continue
		}
		v, err := convert(doc[k], f, key)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		doc[k] = v
	}
	return errors.Join(errs...)
}

func convert(v any, ft reflect.Type, key string) (any, error) {
	for ft.Kind() == reflect.Pointer { // optional keys (display.spi_mode): set means set
		ft = ft.Elem()
	}
	text, fromSet := v.(setText)
	switch {
	case ft == durationType:
		var s string
		switch x := v.(type) {
		case setText:
			s = string(x)
		case string:
			s = x
		case int64, float64:
			s = fmt.Sprint(x)
		default:
			return nil, fmt.Errorf("%s: %v is not a duration; write it with a unit, e.g. \"240s\" or \"4m\"%s", key, v, durationRange(key))
		}
		s = strings.TrimSpace(s)
		if _, err := strconv.ParseFloat(s, 64); err == nil {
			return nil, fmt.Errorf("%s: %q needs a unit, e.g. 240s or 4m%s", key, s, durationRange(key))
		}
		if _, err := time.ParseDuration(s); err != nil {
			return nil, fmt.Errorf("%s: %q is not a duration; write a number and a unit (s, m, h), e.g. 240s or 4m%s", key, s, durationRange(key))
		}
		return s, nil
	case ft.Kind() == reflect.String:
		switch x := v.(type) {
		case setText:
			return string(x), nil
		case string:
			return x, nil
		case int64:
			return strconv.FormatInt(x, 10), nil // an app id or store id of digits
		case float64:
			return strconv.FormatFloat(x, 'f', -1, 64), nil
		}
		return nil, fmt.Errorf("%s: %v is not text; put it in quotes", key, v)
	case ft.Kind() == reflect.Bool:
		switch x := v.(type) {
		case bool:
			return x, nil
		case setText:
			switch strings.ToLower(strings.TrimSpace(string(x))) {
			case "true", "yes", "on", "1":
				return true, nil
			case "false", "no", "off", "0":
				return false, nil
			}
		}
		return nil, fmt.Errorf("%s: %s is not true or false", key, quoteValue(v))
	case ft.Kind() >= reflect.Int && ft.Kind() <= reflect.Uint64:
		var n int64
		switch x := v.(type) {
		case int64:
			n = x
		case setText, string:
			s := strings.TrimSpace(fmt.Sprint(x))
			var err error
			if n, err = strconv.ParseInt(s, 0, 64); err != nil {
				return nil, fmt.Errorf("%s: %q is not a whole number", key, s)
			}
		default:
			return nil, fmt.Errorf("%s: %s is not a whole number", key, quoteValue(v))
		}
		lo, hi := int64(math.MinInt64), int64(math.MaxInt64)
		switch ft.Kind() {
		case reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint, reflect.Uint64:
			lo = 0
			if ft.Bits() < 64 {
				hi = 1<<ft.Bits() - 1
			}
		case reflect.Int8, reflect.Int16, reflect.Int32:
			lo, hi = -(1 << (ft.Bits() - 1)), 1<<(ft.Bits()-1)-1
		}
		if n < lo || n > hi {
			return nil, fmt.Errorf("%s: %d is out of range (%d..%d)", key, n, lo, hi)
		}
		return n, nil
	case ft.Kind() == reflect.Struct:
		m, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s: is a section; write [%s] and its keys below it", key, key)
		}
		return m, normalize(m, ft, key+".", "")
	case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
		list, ok := v.([]map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s: is a list of tables; write [[%s]] and its keys below it (or --set %s.key=value for the first)", key, key, key)
		}
		var errs []error
		for i, m := range list {
			errs = append(errs, normalize(m, ft.Elem(), fmt.Sprintf("%s[%d].", key, i), ""))
		}
		return list, errors.Join(errs...)
	}
	// Maps and lists (keypad.keymap) are checked by the strict decoder and
	// by validate; from --set they must be written in TOML.
	if fromSet {
		return nil, fmt.Errorf("%s: %q: write it in TOML, e.g. %s", key, string(text), tomlExample(ft))
	}
	return v, nil
}

func tomlExample(t reflect.Type) string {
	if t.Kind() == reflect.Map {
		return `{enter = ["\r"]}`
	}
	return `["a", "b"]`
}

func quoteValue(v any) string {
	switch x := v.(type) {
	case setText:
		return strconv.Quote(string(x))
	case string:
		return strconv.Quote(x)
	}
	return fmt.Sprint(v)
}

// durationRange adds the allowed range for the keys that have one.
func durationRange(key string) string {
	switch key {
	case "terminal.payment_window":
		return "; allowed 30s..30m"
	}
	return ""
}

// fieldByTag finds the field of struct t whose toml tag is name.
func fieldByTag(t reflect.Type, name string) (reflect.Type, bool) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
		if tag == name && tag != "-" && f.IsExported() {
			return f.Type, true
		}
	}
	return nil, false
}

// suggest names the keys a mistyped one may have meant.
func suggest(t reflect.Type, name string) string {
	var keys []string
	for i := 0; i < t.NumField(); i++ {
		tag, _, _ := strings.Cut(t.Field(i).Tag.Get("toml"), ",")
		if tag != "" && tag != "-" {
			keys = append(keys, tag)
		}
	}
	for _, k := range keys {
		if closeTo(k, name) {
			return fmt.Sprintf(" (did you mean %s?)", k)
		}
	}
	if len(keys) <= 12 {
		return "; known keys here: " + strings.Join(keys, ", ")
	}
	return ""
}

// closeTo: one edit (insert, delete, replace or swap) apart.
func closeTo(a, b string) bool {
	if a == b || abs(len(a)-len(b)) > 1 {
		return false
	}
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	switch {
	case len(a) == len(b):
		if i+1 < len(a) && a[i] == b[i+1] && a[i+1] == b[i] && a[i+2:] == b[i+2:] {
			return true
		}
		return a[i+1:] == b[i+1:]
	case len(a) > len(b):
		return a[i+1:] == b[i:]
	}
	return a[i:] == b[i+1:]
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

func oneOf(v string, allowed []string) bool { return slices.Contains(allowed, v) }

func listOr(allowed []string) string {
	if len(allowed) == 1 {
		return allowed[0]
	}
	return strings.Join(allowed[:len(allowed)-1], ", ") + " or " + allowed[len(allowed)-1]
}

// validate names the key of every bad value and says what is allowed.
func (c *Config) validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{key}, args...)...))
	}
	if _, err := c.maxAmountCents(); err != nil {
		var ae *keypad.AmountError
		if errors.As(err, &ae) {
			bad("terminal.max_amount", "%q: %s; write yuan with at most two decimals, e.g. \"5000.00\"", c.Terminal.MaxAmount, ae.Reason)
		} else {
			bad("terminal.max_amount", "%q: write yuan with at most two decimals, e.g. \"5000.00\"", c.Terminal.MaxAmount)
		}
	}
	if w := c.Terminal.PaymentWindow; w < 30*time.Second || w > 30*time.Minute {
		bad("terminal.payment_window", "%s is outside the allowed 30s..30m", w)
	}
	if c.Terminal.QueueTTL < 0 {
		bad("terminal.queue_ttl", "must not be negative (0 turns the offline queue off)")
	}
	if c.Terminal.Database == "" {
		bad("terminal.database", "is required: the path of the order database, e.g. /var/lib/posagent/posagent.db")
	}
	if c.Terminal.Merchant == "" {
		bad("terminal.merchant", "is required: the shop's name for screens and receipts")
	}
	if l := c.Terminal.Locale; l != "" && !oneOf(l, locales) {
		bad("terminal.locale", "%q is not a locale here; use %s", l, listOr(locales))
	}
	if tz := c.Terminal.Timezone; tz != "" {
		if _, err := time.LoadLocation(tz); err != nil || tz == "Local" {
			bad("terminal.timezone", "%q is not a time zone name; use an IANA name such as Asia/Shanghai or Asia/Hong_Kong", tz)
		}
	}
	if !oneOf(c.Gateway.Kind, gatewayKinds) {
		bad("gateway.kind", "%q is not a gateway here; use %s", c.Gateway.Kind, listOr(gatewayKinds))
	}
	if !strings.HasPrefix(c.Gateway.URL, "https://") && !strings.HasPrefix(c.Gateway.URL, "http://127.") && !strings.HasPrefix(c.Gateway.URL, "http://localhost") {
		bad("gateway.url", "%q must start with https:// (plain http only to a sandbox on 127.0.0.1 or localhost)", c.Gateway.URL)
	}
	if c.Gateway.Timeout <= 0 {
		bad("gateway.timeout", "must be positive, e.g. 15s")
	}
	switch c.Keypad.Driver {
	case "serial":
		if c.Keypad.Port == "" && c.Keypad.VID == "" {
			bad("keypad.port", "is required for the serial keypad (or set keypad.vid and keypad.pid)")
		}
	case "stdin", "none":
	default:
		bad("keypad.driver", "%q is not a keypad driver; use %s", c.Keypad.Driver, listOr(keypadDrivers))
	}
	if c.Keypad.Keymap != nil {
		if _, err := keypad.ParseKeymap(c.Keypad.Keymap); err != nil {
			bad("keypad.keymap", "%s", strings.TrimPrefix(err.Error(), "keypad: "))
		}
	}
	for i, d := range c.Display {
		if !oneOf(d.Driver, displayDrivers) {
			what := fmt.Sprintf("%q is not a display driver", d.Driver)
			if d.Driver == "" {
				what = "is required"
			}
			bad(fmt.Sprintf("display[%d].driver", i), "%s; use %s", what, listOr(displayDrivers))
		}
	}
	if c.Printer.Driver != "" && !oneOf(c.Printer.Driver, printerDrivers) {
		bad("printer.driver", "%q is not a printer driver; use %s, or leave it empty for no printer", c.Printer.Driver, listOr(printerDrivers))
	}
	if c.Printer.Driver != "" && c.Printer.Device == "" {
		bad("printer.device", "is required with printer.driver %q (a device path, host:port or file)", c.Printer.Driver)
	}
	if !oneOf(c.Log.Format, logFormats) {
		bad("log.format", "%q is not a log format; use %s", c.Log.Format, listOr(logFormats))
	}
	if !oneOf(c.Log.Level, logLevels) {
		bad("log.level", "%q is not a log level; use %s", c.Log.Level, listOr(logLevels))
	}
	if a := c.Metrics.Listen; a != "" {
		host, port, ok := strings.Cut(a, ":")
		if _, err := strconv.Atoi(port); !ok || err != nil {
			bad("metrics.listen", "%q is not host:port, e.g. 127.0.0.1:9464", a)
		} else if host == "" || host == "0.0.0.0" || host == "::" || host == "[::]" {
			bad("metrics.listen", "%q listens on every network; name a local address, e.g. 127.0.0.1:9464 (or use metrics.textfile)", a)
		}
	}
	if _, err := c.retention(); err != nil {
		bad("storage.retention", "%q: %v", c.Storage.Retention, err)
	}
	return errors.Join(errs...)
}

func (c *Config) maxAmountCents() (int64, error) {
	return keypad.ParseAmount(c.Terminal.MaxAmount)
}

// locale is terminal.locale or the gateway's default: Yedpay serves Hong
// Kong shops, Upay and Alipay mainland ones.
func (c *Config) locale() string {
	if c.Terminal.Locale != "" {
		return c.Terminal.Locale
	}
	if c.Gateway.Kind == "yedpay" {
		return "zh-HK"
	}
	return "zh-CN"
}

// location is terminal.timezone or the locale's zone. Receipts show the
// shop's time whatever zone the Pi was imaged with.
// currency is the ISO 4217 code of the gateway's money: Yedpay's
// gateway.currency, by default HKD (the Yedpay client's default,
// gateway/yedpay); CNY for Upay and Alipay.
func (c *Config) currency() string {
	if c.Gateway.Kind != "yedpay" {
		return "CNY"
	}
	if c.Gateway.Currency != "" {
		return c.Gateway.Currency
	}
	return "HKD"
}

// money is an amount with the sign of the gateway's currency, as the
// screens write it (locale.Money): ¥12.50, HK$12.50.
func (c *Config) money(cents int64) string {
	return locale.Money(cents, c.currency())
}

func (c *Config) location() *time.Location {
	name := c.Terminal.Timezone
	if name == "" {
		name = "Asia/Shanghai"
		if c.locale() == "zh-HK" {
			name = "Asia/Hong_Kong"
		}
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return time.FixedZone("UTC+8", 8*3600) // both default zones are UTC+8 without DST
	}
	return loc
}

// retention is storage.retention: a Go duration or a number of days
// ("400d"); 0 means keep everything.
func (c *Config) retention() (time.Duration, error) {
	s := strings.TrimSpace(c.Storage.Retention)
	if s == "" {
		return 0, nil
	}
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(d)
		if err != nil || n < 1 {
			return 0, errors.New("write a number of days (\"400d\") or hours (\"9600h\"); empty keeps everything")
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 24*time.Hour {
		return 0, errors.New("write a number of days (\"400d\") or hours (\"9600h\"), at least one day; empty keeps everything")
	}
	return d, nil
}
