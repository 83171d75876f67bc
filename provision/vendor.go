package provision

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"

	"posagent/gateway/upay"
)

// Vendor is the integrator's pair that signs /terminal/activate, and the
// app_id it activates under. It is used once and never stored.
type Vendor struct {
	SN    string
	Key   string
	AppID string
}

// String masks the key.
func (v Vendor) String() string {
	return fmt.Sprintf("{SN:%s Key:%s AppID:%s}", v.SN, maskSecret(v.Key), v.AppID)
}

// GoString masks the key in %#v.
func (v Vendor) GoString() string { return "provision.Vendor" + v.String() }

// LogValue masks the key in slog output.
func (v Vendor) LogValue() slog.Value {
	return slog.GroupValue(slog.String("vendor_sn", v.SN), slog.String("vendor_key", maskSecret(v.Key)), slog.String("app_id", v.AppID))
}

// MarshalJSON masks the key, should a Vendor ever end up in JSON output.
func (v Vendor) MarshalJSON() ([]byte, error) {
	return fmt.Appendf(nil, `{"vendor_sn":%s,"vendor_key":%s,"app_id":%s}`,
		strconv.Quote(v.SN), strconv.Quote(maskSecret(v.Key)), strconv.Quote(v.AppID)), nil
}

// Configure returns cfg with the vendor pair set, for the upay.Client that
// Provision activates with.
func (v Vendor) Configure(cfg upay.Config) upay.Config {
	cfg.VendorSN, cfg.VendorKey = v.SN, v.Key
	return cfg
}

func maskSecret(s string) string {
	if s == "" {
		return ""
	}
	return "<redacted>"
}

// Environment variables LoadVendor reads.
const (
	EnvVendorSN  = "POSAGENT_VENDOR_SN"
	EnvVendorKey = "POSAGENT_VENDOR_KEY"
	EnvAppID     = "POSAGENT_APP_ID"
)

// vendorField describes one field and where it comes from.
type vendorField struct {
	name   string // file key
	env    string
	label  string // prompt label
	secret bool
	dst    func(*Vendor) *string
}

var vendorFields = []vendorField{
	{"vendor_sn", EnvVendorSN, "Vendor SN", false, func(v *Vendor) *string { return &v.SN }},
	{"vendor_key", EnvVendorKey, "Vendor key", true, func(v *Vendor) *string { return &v.Key }},
	{"app_id", EnvAppID, "App ID", false, func(v *Vendor) *string { return &v.AppID }},
}

// LoadVendor gathers the vendor credentials. Each field is taken from the
// file at path (when path is not empty), else from the environment (env,
// normally os.Getenv; POSAGENT_VENDOR_SN, POSAGENT_VENDOR_KEY,
// POSAGENT_APP_ID), else from prompt (label, secret) as a last resort; the
// vendor key is prompted with secret set, so the caller can read it
// without echo. A nil env or prompt is skipped.
//
// The file holds lines "vendor_sn = \"…\"" (a flat TOML subset) or
// "VENDOR_SN=…" (env-file style), with # comments; [section] headers are
// ignored. It must not be readable by group or others: the vendor key
// activates terminals for the integrator's whole fleet.
func LoadVendor(path string, env func(string) string, prompt func(label string, secret bool) (string, error)) (Vendor, error) {
	var v Vendor
	if path != "" {
		fv, err := readVendorFile(path)
		if err != nil {
			return Vendor{}, err
		}
		v = fv
	}
	var missing []string
	for _, f := range vendorFields {
		dst := f.dst(&v)
		if *dst == "" && env != nil {
			*dst = strings.TrimSpace(env(f.env))
		}
		if *dst == "" && prompt != nil {
			s, err := prompt(f.label, f.secret)
			if err != nil {
				return Vendor{}, fmt.Errorf("provision: reading %s: %w", f.label, err)
			}
			*dst = strings.TrimSpace(s)
		}
		if *dst == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		where := "the environment (" + EnvVendorSN + ", " + EnvVendorKey + ", " + EnvAppID + ")"
		if path != "" {
			where = path + " or " + where
		}
		return Vendor{}, fmt.Errorf("provision: vendor credentials incomplete: %s missing from %s", strings.Join(missing, ", "), where)
	}
	if len(v.SN) > 32 || len(v.AppID) > 64 || len(v.Key) > 128 {
		return Vendor{}, errors.New("provision: vendor credentials implausibly long (vendor_sn ≤32, app_id ≤64, vendor_key ≤128 characters)")
	}
	return v, nil
}

func readVendorFile(path string) (Vendor, error) {
	f, err := os.Open(path)
	if err != nil {
		return Vendor{}, fmt.Errorf("provision: vendor file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return Vendor{}, fmt.Errorf("provision: vendor file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return Vendor{}, fmt.Errorf("provision: vendor file %s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return Vendor{}, fmt.Errorf("provision: vendor file %s is readable by others (mode %04o); it holds the vendor key: run `chmod 600 %s` and try again", path, perm, path)
	}
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(f); err != nil {
		return Vendor{}, fmt.Errorf("provision: vendor file %s: %w", path, err)
	}
	return parseVendor(path, buf.Bytes())
}

// parseVendor reads the file format. Errors name the line and the key,
// never the value: the value may be the vendor key.
func parseVendor(path string, b []byte) (Vendor, error) {
	var v Vendor
	seen := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if n == 1 {
			line = strings.TrimPrefix(line, "\uFEFF")
		}
		if line == "" || line[0] == '#' || line[0] == '[' {
			continue
		}
		k, val, ok := strings.Cut(line, "=")
		if !ok {
			return Vendor{}, fmt.Errorf("provision: vendor file %s line %d: expected key = value", path, n)
		}
		key := strings.ToLower(strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(k), "export ")))
		key = strings.TrimPrefix(key, "posagent_")
		var field *vendorField
		for i := range vendorFields {
			if vendorFields[i].name == key {
				field = &vendorFields[i]
			}
		}
		if field == nil {
			// Echo the key only when it looks like one: "vendor_key: c2Vj=="
			// (YAML by mistake, base64 value) must not print the secret.
			name := strings.TrimSpace(k)
			if !isIdent(name) {
				name = "(not a key name)"
			}
			return Vendor{}, fmt.Errorf("provision: vendor file %s line %d: unknown key %s (want vendor_sn, vendor_key, app_id)", path, n, name)
		}
		if seen[key] {
			return Vendor{}, fmt.Errorf("provision: vendor file %s line %d: %s given twice", path, n, key)
		}
		seen[key] = true
		s, err := unquote(strings.TrimSpace(val))
		if err != nil {
			return Vendor{}, fmt.Errorf("provision: vendor file %s line %d: value of %s: %v", path, n, key, err)
		}
		*field.dst(&v) = s
	}
	return v, nil
}

// unquote takes a TOML basic ("…") or literal ('…') string, or a bare
// value (env-file style) up to a " #" comment.
func unquote(s string) (string, error) {
	switch {
	case strings.HasPrefix(s, `"`):
		end := closingQuote(s)
		if end < 0 {
			return "", errors.New("unterminated \"string\"")
		}
		if rest := strings.TrimSpace(s[end+1:]); rest != "" && rest[0] != '#' {
			return "", errors.New("text after the closing quote")
		}
		u, err := strconv.Unquote(s[:end+1])
		if err != nil {
			return "", errors.New("bad escape in \"string\"")
		}
		return u, nil
	case strings.HasPrefix(s, "'"):
		end := strings.IndexByte(s[1:], '\'')
		if end < 0 {
			return "", errors.New("unterminated 'string'")
		}
		if rest := strings.TrimSpace(s[end+2:]); rest != "" && rest[0] != '#' {
			return "", errors.New("text after the closing quote")
		}
		return s[1 : end+1], nil
	}
	if i := strings.Index(s, " #"); i >= 0 {
		s = s[:i]
	}
	return strings.TrimSpace(s), nil
}

func closingQuote(s string) int {
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			return i
		}
	}
	return -1
}

func isIdent(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}
