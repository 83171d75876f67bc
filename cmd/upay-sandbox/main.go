// Command upay-sandbox runs the Upay v2 sandbox gateway on its own, for
// scripts, manual testing with a phone or browser, and field demos:
//
//	go run ./cmd/upay-sandbox -listen 127.0.0.1:8480
//
// Orders are paid by opening the qr_code URL (a page with Pay and Decline
// buttons) or with: curl -X POST http://127.0.0.1:8480/sandbox/orders/<sn>/pay
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"posagent/gateway/sandboxkit"
	"posagent/gateway/upay/sandbox"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8480", "address to listen on")
	vendorSN := flag.String("vendor-sn", "91800001", "vendor serial number accepted for activation")
	vendorKey := flag.String("vendor-key", "sandbox-vendor-key", "vendor key accepted for activation")
	codes := flag.String("activation-code", "12345678", "activation codes, comma separated, each as CODE or CODE:USES")
	ttl := flag.Duration("order-ttl", 240*time.Second, "how long an unpaid order stays payable")
	ledger := flag.String("ledger", "", "write the ledger as JSON to this file after every change")
	baseURL := flag.String("base-url", "", "URL the terminal and phones reach this server at (default http://<listen>)")
	var names []string
	for _, p := range sandboxkit.AllPersonalities {
		names = append(names, string(p))
	}
	personalities := flag.String("personalities", "", "gateway personalities, comma separated: "+strings.Join(names, ", "))
	flag.Parse()

	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ac := map[string]int{}
	for _, c := range strings.Split(*codes, ",") {
		code, uses := c, 1
		if i := strings.IndexByte(c, ':'); i >= 0 {
			code = c[:i]
			if _, err := fmt.Sscanf(c[i+1:], "%d", &uses); err != nil || uses < 1 {
				fmt.Fprintf(os.Stderr, "upay-sandbox: -activation-code %q: uses must be a positive number\n", c)
				os.Exit(2)
			}
		}
		if code != "" {
			ac[code] += uses
		}
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintf(os.Stderr, "upay-sandbox: %v\n", err)
		os.Exit(1)
	}
	if *baseURL == "" {
		*baseURL = "http://" + ln.Addr().String()
	}
	sb := sandbox.New(sandbox.Options{VendorSN: *vendorSN, VendorKey: *vendorKey, ActivationCodes: ac,
		OrderTTL: *ttl, LedgerPath: *ledger, BaseURL: *baseURL, Logger: log})
	if *personalities != "" {
		var ps []sandboxkit.Personality
		for _, p := range strings.Split(*personalities, ",") {
			ps = append(ps, sandboxkit.Personality(strings.TrimSpace(p)))
		}
		if err := sb.SetPersonalities(ps...); err != nil {
			fmt.Fprintf(os.Stderr, "upay-sandbox: -personalities: %v\n", strings.TrimPrefix(err.Error(), "sandboxkit: "))
			os.Exit(2)
		}
	}
	shownKey := *vendorKey
	if shownKey != "sandbox-vendor-key" {
		shownKey = "(as given)" // never echo a key someone typed in
	}
	fmt.Printf("upay-sandbox listening on %s\n  -vendor-sn %s\n  -vendor-key %s\n  -activation-code %s\n  -order-ttl %s\n  -ledger %q\n",
		*baseURL, *vendorSN, shownKey, *codes, *ttl, *ledger)
	fmt.Printf("pay an order:  curl -X POST %s/sandbox/orders/<sn>/pay\nledger:        curl %s/sandbox/ledger\n", *baseURL, *baseURL)

	srv := &http.Server{Handler: sb, ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintf(os.Stderr, "upay-sandbox: %v\n", err)
		os.Exit(1)
	}
}
