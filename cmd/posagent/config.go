package main

import (
	_ "embed"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"posagent/agent/keypad"
	"posagent/display"
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
// name the key.
type Config struct {
	Terminal TerminalConfig   `toml:"terminal"`
	Gateway  GatewayConfig    `toml:"gateway"`
	Keypad   KeypadConfig     `toml:"keypad"`
	Display  []display.Config `toml:"display"`
	Printer  PrinterConfig    `toml:"printer"`
	Log      LogConfig        `toml:"log"`
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

// loadConfig reads path (if it exists, or if it was named explicitly),
// then applies each "key=value" override, then checks the result.
func loadConfig(path string, explicit bool, overrides []string) (Config, error) {
	cfg := defaultConfig()
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		if err := decodeStrict(string(b), path, &cfg); err != nil {
			return cfg, err
		}
	case errors.Is(err, os.ErrNotExist) && !explicit:
		// No file: defaults and overrides only.
	default:
		return cfg, fmt.Errorf("config: %w", err)
	}
	for _, o := range overrides {
		k, v, ok := strings.Cut(o, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return cfg, fmt.Errorf("config: --set %q: want section.key=value", o)
		}
		doc := k + " = " + v
		if _, err := toml.Decode(doc, &map[string]any{}); err != nil {
			// Not a TOML literal: take it as a string.
			doc = k + " = " + fmt.Sprintf("%q", v)
		}
		if err := decodeStrict(doc, "--set "+k, &cfg); err != nil {
			return cfg, err
		}
	}
	return cfg, cfg.validate()
}

func decodeStrict(doc, source string, cfg *Config) error {
	md, err := toml.Decode(doc, cfg)
	if err != nil {
		return fmt.Errorf("config: %s: %w", source, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		keys := make([]string, len(und))
		for i, k := range und {
			keys[i] = k.String()
		}
		return fmt.Errorf("config: %s: unknown key %s", source, strings.Join(keys, ", "))
	}
	return nil
}

// validate names the key of every bad value.
func (c *Config) validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("config: %s: "+format, append([]any{key}, args...)...))
	}
	if _, err := c.maxAmountCents(); err != nil {
		bad("terminal.max_amount", "%v", err)
	}
	if c.Terminal.PaymentWindow < 30*time.Second || c.Terminal.PaymentWindow > 30*time.Minute {
		bad("terminal.payment_window", "%s is outside 30s..30m", c.Terminal.PaymentWindow)
	}
	if c.Terminal.QueueTTL < 0 {
		bad("terminal.queue_ttl", "must not be negative")
	}
	if c.Terminal.Database == "" {
		bad("terminal.database", "is required")
	}
	if c.Terminal.Merchant == "" {
		bad("terminal.merchant", "is required")
	}
	switch c.Gateway.Kind {
	case "upay", "alipay", "yedpay":
	default:
		bad("gateway.kind", "%q is not one of upay, alipay, yedpay", c.Gateway.Kind)
	}
	if !strings.HasPrefix(c.Gateway.URL, "https://") && !strings.HasPrefix(c.Gateway.URL, "http://127.") && !strings.HasPrefix(c.Gateway.URL, "http://localhost") {
		bad("gateway.url", "%q must be https:// (plain http only to a local sandbox)", c.Gateway.URL)
	}
	if c.Gateway.Timeout <= 0 {
		bad("gateway.timeout", "must be positive")
	}
	switch c.Keypad.Driver {
	case "serial":
		if c.Keypad.Port == "" && c.Keypad.VID == "" {
			bad("keypad.port", "is required for the serial keypad (or set keypad.vid/pid)")
		}
	case "stdin", "none":
	default:
		bad("keypad.driver", "%q is not one of serial, stdin, none", c.Keypad.Driver)
	}
	if c.Keypad.Keymap != nil {
		if _, err := keypad.ParseKeymap(c.Keypad.Keymap); err != nil {
			bad("keypad.keymap", "%v", err)
		}
	}
	for i, d := range c.Display {
		switch d.Driver {
		case "png", "term", "st7789", "ili9341", "ssd1306", "ssd1306-i2c", "st7567", "epd2in13", "epd2in13v2", "epd2in13v3":
		default:
			bad(fmt.Sprintf("display[%d].driver", i), "%q is not a known display", d.Driver)
		}
	}
	switch c.Printer.Driver {
	case "", "serial", "usb", "tcp", "file":
	default:
		bad("printer.driver", "%q is not one of serial, usb, tcp, file", c.Printer.Driver)
	}
	if c.Printer.Driver != "" && c.Printer.Device == "" {
		bad("printer.device", "is required with printer.driver %q", c.Printer.Driver)
	}
	switch c.Log.Format {
	case "auto", "text", "json":
	default:
		bad("log.format", "%q is not one of auto, text, json", c.Log.Format)
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level", "%q is not one of debug, info, warn, error", c.Log.Level)
	}
	return errors.Join(errs...)
}

func (c *Config) maxAmountCents() (int64, error) {
	return keypad.ParseAmount(c.Terminal.MaxAmount)
}
