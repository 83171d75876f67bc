// Command posagent is the payment terminal agent: one static binary that
// owns the appliance. Run "posagent help" for its subcommands.
package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"

	"posagent/gateway"
	"posagent/gateway/upay"
	"posagent/gateway/upay/sandbox"
)

// Stamped by the Makefile with -ldflags "-X main.version=... -X main.commit=...".
var (
	version = "dev"
	commit  = "unknown"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		args = []string{"help"}
	}
	switch args[0] {
	case "version":
		fmt.Fprintf(stdout, "posagent %s (commit %s) %s/%s%s %s\n", version, commit, runtime.GOOS, runtime.GOARCH, goarm(), runtime.Version())
		return 0
	case "demo":
		if err := demo(stdout); err != nil {
			fmt.Fprintf(stderr, "posagent demo: %v\n", err)
			return 1
		}
		return 0
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, "usage: posagent <command>\n\n  demo     a scripted sale against the embedded sandbox gateway\n  version  print version, commit and platform")
		return 0
	}
	fmt.Fprintf(stderr, "posagent: unknown command %q (try: posagent help)\n", args[0])
	return 2
}

func goarm() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "GOARM" {
				return " GOARM=" + s.Value
			}
		}
	}
	return ""
}

// demo runs one sale through the Upay client against the embedded sandbox.
func demo(out io.Writer) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	base := "http://" + ln.Addr().String()
	sb := sandbox.New(sandbox.Options{BaseURL: base})
	go http.Serve(ln, sb)
	ctx := context.Background()
	c, err := upay.New(sb.ClientConfig(base))
	if err != nil {
		return err
	}
	term, err := c.Activate(ctx, upay.ActivateRequest{AppID: "posagent-demo", Code: "12345678", DeviceID: "demo-device"})
	if err != nil {
		return err
	}
	c.SetTerminal(term.SN, term.Key)
	fmt.Fprintf(out, "activated terminal %s against the sandbox at %s\n", term.SN, base)
	o, err := c.Precreate(ctx, gateway.PrecreateRequest{ClientSN: "DEMO-1", AmountCents: 1250, Subject: "posagent demo"})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "precreate: order %s for ¥12.50, QR payload %s\n", o.SN, o.QRCode)
	if err := sb.Pay(o.SN); err != nil {
		return err
	}
	o, err = c.Query(ctx, "DEMO-1")
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "query: %s\n", o.Status)
	return nil
}
