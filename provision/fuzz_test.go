package provision

import (
	"regexp"
	"strings"
	"testing"
)

// secretish finds runs that could be a key: 12+ characters without spaces
// or '=' that are not plain identifiers.
var secretish = regexp.MustCompile(`[^\s="']{12,}`)

// FuzzParseVendor: no input makes the parser panic, and an error never
// echoes anything that could be a secret value.
func FuzzParseVendor(f *testing.F) {
	for _, s := range []string{
		"vendor_sn = \"1\"\nvendor_key = \"k\"\napp_id = 'a'\n",
		"VENDOR_KEY=abc\n", "vendor_key: c2VjcmV0LXZhbHVl==\n", "vendor_key = \"unterminated-secret-value\n",
		"[x]\n# c\n\n", "vendor_key='x' tail-secret-value-zz\n", "\uFEFFapp_id=1\n", "=\n", "\"\\",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		const path = "/etc/posagent/vendor.toml"
		_, err := parseVendor(path, []byte(in))
		if err == nil {
			return
		}
		msg := err.Error()
		if !strings.HasPrefix(msg, "provision: vendor file "+path+" line ") {
			t.Fatalf("error %q does not name the package, file and line", msg)
		}
		msg = strings.ReplaceAll(msg, path, "")
		for _, tok := range secretish.FindAllString(in, -1) {
			if !isIdent(tok) && strings.Contains(msg, tok) {
				t.Fatalf("error %q echoes %q from the file", msg, tok)
			}
		}
	})
}

// FuzzCPUSerial: no cpuinfo makes DeviceID's parser panic or return an
// all-zero serial.
func FuzzCPUSerial(f *testing.F) {
	f.Add("Serial\t\t: 00000000abcdef12\n")
	f.Add("Serial : 0000\nSerial: 1\n")
	f.Add("serial:")
	f.Fuzz(func(t *testing.T, in string) {
		s, ok := cpuSerial([]byte(in))
		if ok && (s == "" || allZero(s)) {
			t.Fatalf("serial %q accepted", s)
		}
	})
}
