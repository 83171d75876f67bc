package provision_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing/fstest"

	"posagent/gateway/upay"
	"posagent/gateway/upay/sandbox"
	"posagent/provision"
	"posagent/storage"
)

// How cmd/posagent wires `provision`, `checkin` and `doctor`, here against
// an embedded sandbox. In production: os.DirFS("/") for the device id,
// os.Getenv and a no-echo prompt for the vendor credentials, the real
// gateway URL, and storage.DefaultPath.
func Example() {
	sb := sandbox.New(sandbox.Options{})
	srv := httptest.NewServer(sb)
	defer srv.Close()
	dir, _ := os.MkdirTemp("", "posagent-example")
	defer os.RemoveAll(dir)
	ctx := context.Background()

	// posagent provision --code 12345678
	root := fstest.MapFS{"proc/cpuinfo": {Data: []byte("Serial\t\t: 00000000abcdef12\n")}}
	deviceID, err := provision.DeviceID(root)
	if err != nil {
		fmt.Println(err)
		return
	}
	env := map[string]string{"POSAGENT_VENDOR_SN": "91800001", "POSAGENT_VENDOR_KEY": "sandbox-vendor-key"}
	vendor, err := provision.LoadVendor("", func(k string) string { return env[k] },
		func(label string, secret bool) (string, error) { return "posagent-example", nil }) // asks for the App ID
	if err != nil {
		fmt.Println(err)
		return
	}
	db, err := storage.Open(filepath.Join(dir, "posagent.db"), &storage.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer db.Close()
	client, _ := upay.New(vendor.Configure(upay.Config{BaseURL: srv.URL}))
	creds, err := provision.Provision(ctx, db, client, provision.Params{
		Code: "12345678", DeviceID: deviceID, Vendor: vendor, Name: "Counter 1",
	})
	fmt.Println("provision:", err, creds.TerminalSN != "", creds.DeviceID)
	fmt.Println("vendor:", vendor)

	// posagent checkin (the agent runs provision.RunDaily with the same call)
	fmt.Println("checkin:", provision.Checkin(ctx, db, client, deviceID, creds.ActivatedAt))

	// posagent doctor
	fmt.Println("credentials accepted:", provision.CredentialsCheck(db, client).Run(ctx).OK)
	ok := provision.RunChecksStyle(ctx, []provision.Check{
		provision.DeviceCheck("printer", func(context.Context) error { return fmt.Errorf("open /dev/usb/lp0: no such device") }),
	}, os.Stdout, provision.StyleASCII)
	fmt.Println("all green:", ok)
	// Output:
	// provision: <nil> true 00000000abcdef12
	// vendor: {SN:91800001 Key:<redacted> AppID:posagent-example}
	// checkin: <nil>
	// credentials accepted: true
	// [FAIL] printer: open /dev/usb/lp0: no such device -- fix: check that the printer is plugged in and powered, the device path in the config, and that the posagent user may open it (groups dialout, lp, spi, gpio)
	// all green: false
}
