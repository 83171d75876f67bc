package provision_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"posagent/provision"
)

func writeFile(t *testing.T, content string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "vendor.toml")
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil { // umask-proof
		t.Fatal(err)
	}
	return p
}

func noEnv(string) string { return "" }

func TestLoadVendorFileFormats(t *testing.T) {
	want := provision.Vendor{SN: "91800042", Key: `k"ey#1 x`, AppID: "app-7"}
	for name, content := range map[string]string{
		"toml": "# Upay vendor credentials\n[upay]\nvendor_sn = \"91800042\"\nvendor_key = \"k\\\"ey#1 x\" # the secret\napp_id = 'app-7'\n",
		"env":  "export POSAGENT_VENDOR_SN=91800042\nVENDOR_KEY=\"k\\\"ey#1 x\"\r\nAPP_ID=app-7 # comment\n",
	} {
		t.Run(name, func(t *testing.T) {
			p := writeFile(t, content, 0o600)
			got, err := provision.LoadVendor(p, noEnv, nil)
			if err != nil || got != want {
				t.Fatalf("LoadVendor = %v, %v; want %v", got, err, want)
			}
		})
	}
}

func TestLoadVendorRefusesReadableFile(t *testing.T) {
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604} {
		p := writeFile(t, "vendor_sn=1\nvendor_key=secret-value-77\napp_id=a\n", mode)
		_, err := provision.LoadVendor(p, noEnv, nil)
		if err == nil || !strings.Contains(err.Error(), "chmod 600 "+p) || !strings.HasPrefix(err.Error(), "provision: ") {
			t.Errorf("mode %04o: err = %v, want a refusal with the chmod 600 hint", mode, err)
		}
	}
}

func TestLoadVendorBadFileNeverEchoesValues(t *testing.T) {
	for name, content := range map[string]string{
		"unknown key":  "vendor_sn=1\nvendorkey=secret-value-77\n",
		"no equals":    "vendor_sn 1\nsecret-value-77\n",
		"unterminated": "vendor_key=\"secret-value-77\n",
		"twice":        "vendor_key=secret-value-77\nvendor_key=secret-value-77\n",
		"junk":         "vendor_key=\"secret-value-77\" junk\n",
	} {
		t.Run(name, func(t *testing.T) {
			p := writeFile(t, content, 0o600)
			_, err := provision.LoadVendor(p, noEnv, nil)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), "line ") {
				t.Errorf("error %q does not name the line", err)
			}
			noSecrets(t, []string{err.Error()}, "secret-value-77")
		})
	}
}

func TestLoadVendorSources(t *testing.T) {
	env := map[string]string{provision.EnvVendorSN: "91800042", provision.EnvVendorKey: "env-key", provision.EnvAppID: "env-app"}
	getenv := func(k string) string { return env[k] }

	// Environment only.
	got, err := provision.LoadVendor("", getenv, nil)
	if err != nil || got != (provision.Vendor{SN: "91800042", Key: "env-key", AppID: "env-app"}) {
		t.Fatalf("env: %v, %v", got, err)
	}

	// The file wins; the environment fills gaps; the prompt comes last and
	// is told the key is secret.
	p := writeFile(t, "vendor_sn = \"file-sn\"\n", 0o600)
	var asked []string
	prompt := func(label string, secret bool) (string, error) {
		asked = append(asked, fmt.Sprintf("%s/%v", label, secret))
		return " prompted-" + label + " \n", nil
	}
	got, err = provision.LoadVendor(p, func(k string) string {
		if k == provision.EnvAppID {
			return "env-app"
		}
		return ""
	}, prompt)
	if err != nil {
		t.Fatal(err)
	}
	if got != (provision.Vendor{SN: "file-sn", Key: "prompted-Vendor key", AppID: "env-app"}) {
		t.Errorf("got %#v", got)
	}
	if strings.Join(asked, ",") != "Vendor key/true" {
		t.Errorf("prompted for %v, want only the vendor key, as a secret", asked)
	}

	// Prompt failure and nothing at all.
	if _, err := provision.LoadVendor("", noEnv, func(string, bool) (string, error) { return "", errors.New("EOF") }); err == nil || !strings.Contains(err.Error(), "EOF") {
		t.Errorf("prompt error: %v", err)
	}
	_, err = provision.LoadVendor("", noEnv, nil)
	for _, s := range []string{"vendor_sn, vendor_key, app_id missing", provision.EnvVendorKey} {
		if err == nil || !strings.Contains(err.Error(), s) {
			t.Errorf("nothing given: err %v does not say %q", err, s)
		}
	}
	if _, err := provision.LoadVendor(filepath.Join(t.TempDir(), "nope"), noEnv, nil); err == nil {
		t.Error("missing file: no error")
	}
}

func TestVendorNeverPrintsKey(t *testing.T) {
	v := provision.Vendor{SN: "91800042", Key: testVendorKey, AppID: "app"}
	j, _ := json.Marshal(v)
	var logs syncBuffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("x", "vendor", v)
	slog.New(slog.NewTextHandler(&logs, nil)).Info("x", "vendor", v)
	texts := []string{v.String(), fmt.Sprint(v), fmt.Sprintf("%v %+v %#v %s", v, v, v, v), fmt.Sprintf("%v", &v),
		fmt.Sprintf("%+v", provision.Params{Vendor: v}), string(j), logs.String()}
	noSecrets(t, texts, testVendorKey)
	if !strings.Contains(v.String(), "91800042") || !strings.Contains(v.String(), "<redacted>") {
		t.Errorf("String = %q, want the SN and a redacted key", v)
	}
	if !json.Valid(j) {
		t.Errorf("MarshalJSON gave invalid JSON %s", j)
	}
}
