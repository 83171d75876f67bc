package provision_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"

	"posagent/provision"
	"posagent/storage"
)

func run(c provision.Check) provision.Result {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return c.Run(ctx)
}

func wantRed(t *testing.T, r provision.Result, detail, fix string) {
	t.Helper()
	if r.OK {
		t.Errorf("green, want red: %+v", r)
		return
	}
	if !strings.Contains(r.Detail, detail) {
		t.Errorf("detail %q does not say %q", r.Detail, detail)
	}
	if !strings.Contains(r.Fix, fix) {
		t.Errorf("fix %q does not say %q", r.Fix, fix)
	}
}

func wantGreen(t *testing.T, r provision.Result, detail string) {
	t.Helper()
	if !r.OK || !strings.Contains(r.Detail, detail) {
		t.Errorf("want green saying %q, got %+v", detail, r)
	}
}

func TestRunChecksOutput(t *testing.T) {
	checks := []provision.Check{
		{Name: "clock", Run: func(context.Context) provision.Result { return provision.Result{OK: true, Detail: "within 1s"} }},
		{Name: "printer", Run: func(context.Context) provision.Result {
			return provision.Result{Detail: "open /dev/usb/lp0:\nno such device", Fix: "plug it in"}
		}},
		{Name: "boom", Run: func(context.Context) provision.Result { panic("oops") }},
		{Name: "empty"},
	}
	var u, a bytes.Buffer
	if provision.RunChecksStyle(context.Background(), checks, &u, provision.StyleUnicode) {
		t.Error("all OK with red checks")
	}
	provision.RunChecksStyle(context.Background(), checks, &a, provision.StyleASCII)
	wantU := "✔ clock: within 1s\n" +
		"✘ printer: open /dev/usb/lp0: no such device — fix: plug it in\n" +
		"✘ boom: check crashed: oops — fix: this is a bug in posagent; report it with this line\n" +
		"✘ empty: check has nothing to run — fix: this is a bug in posagent; report it\n"
	if u.String() != wantU {
		t.Errorf("unicode output:\n%s\nwant:\n%s", u.String(), wantU)
	}
	wantA := strings.NewReplacer("✔", "[ok]", "✘", "[FAIL]", "—", "--").Replace(wantU)
	if a.String() != wantA {
		t.Errorf("ASCII output:\n%s\nwant:\n%s", a.String(), wantA)
	}
	for i := 0; i < a.Len(); i++ {
		if a.Bytes()[i] >= 0x80 {
			t.Fatalf("ASCII output has byte %#x", a.Bytes()[i])
		}
	}
	if !provision.RunChecksStyle(context.Background(), checks[:1], &u, provision.StyleUnicode) {
		t.Error("all green reported as failing")
	}
	// A check gets a deadline.
	var dl bool
	provision.RunChecksStyle(context.Background(), []provision.Check{{Name: "x", Run: func(ctx context.Context) provision.Result {
		_, dl = ctx.Deadline()
		return provision.Result{OK: true}
	}}}, &u, provision.StyleASCII)
	if !dl {
		t.Error("check ran without a deadline")
	}
}

func TestStyleFromEnv(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want provision.Style
	}{
		{map[string]string{"TERM": "xterm-256color", "LANG": "en_US.UTF-8"}, provision.StyleUnicode},
		{map[string]string{"TERM": "linux", "LC_ALL": "zh_CN.utf8", "LANG": "C"}, provision.StyleUnicode},
		{map[string]string{"TERM": "dumb", "LANG": "en_US.UTF-8"}, provision.StyleASCII},
		{map[string]string{"LANG": "en_US.UTF-8"}, provision.StyleASCII},
		{map[string]string{"TERM": "vt100", "LANG": "C"}, provision.StyleASCII},
		{map[string]string{"TERM": "vt100"}, provision.StyleASCII},
	} {
		if got := provision.StyleFromEnv(func(k string) string { return tc.env[k] }); got != tc.want {
			t.Errorf("%v: style %v, want %v", tc.env, got, tc.want)
		}
	}
}

// dateServer answers every request with a Date header off by skew.
func dateServer(t *testing.T, skew time.Duration) *httptest.Server {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Date", time.Now().Add(skew).UTC().Format(http.TimeFormat))
		w.WriteHeader(http.StatusNotFound)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestClockCheck(t *testing.T) {
	b := newBed(t, true)
	wantGreen(t, run(provision.ClockCheck(time.Now, provision.DateRef(b.base, b.srv.Client()))), "of the gateway")

	ahead := dateServer(t, -time.Hour) // the gateway is an hour behind us
	wantRed(t, run(provision.ClockCheck(time.Now, provision.DateRef(ahead.URL, ahead.Client()))), "1h0m0s ahead of the gateway", "timedatectl")
	behind := dateServer(t, time.Hour)
	wantRed(t, run(provision.ClockCheck(time.Now, provision.DateRef(behind.URL, behind.Client()))), "1h0m0s behind the gateway", "NTP")
	near := dateServer(t, 2*time.Minute)
	wantGreen(t, run(provision.ClockCheck(time.Now, provision.DateRef(near.URL, near.Client()))), "within 2m")

	boot := func() time.Time { return time.Date(1970, 1, 1, 0, 0, 42, 0, time.UTC) }
	wantRed(t, run(provision.ClockCheck(boot, provision.DateRef(b.base, b.srv.Client()))), "1970-01-01T00:00:42Z, which cannot be right", "RTC")

	// A clock 200 years ahead makes the sandbox certificate look expired
	// to the check (TLS verification reads the same wall clock).
	late := time.Now().AddDate(200, 0, 0)
	tr := b.srv.Client().Transport.(*http.Transport).Clone()
	tr.TLSClientConfig.Time = func() time.Time { return late }
	cl := &http.Client{Transport: tr}
	wantRed(t, run(provision.ClockCheck(func() time.Time { return late }, provision.DateRef(b.base, cl))), "certificate", "wrong clock")

	noDate := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Date"] = nil // net/http adds none when the key is present but empty
	}))
	defer noDate.Close()
	wantRed(t, run(provision.ClockCheck(time.Now, provision.DateRef(noDate.URL, nil))), "without a Date header", "gateway check")
}

func TestGatewayReach(t *testing.T) {
	b := newBed(t, true)
	wantGreen(t, run(provision.GatewayReach(b.base, b.srv.Client())), "TLS 1.3 (certificate valid until")
	r := run(provision.GatewayReach(b.base, b.srv.Client()))
	if !strings.Contains(r.Detail, "TCP 127.0.0.1") || !strings.Contains(r.Detail, "HTTP 404") {
		t.Errorf("detail %q", r.Detail)
	}

	// The client the doctor builds from the upay configuration trusts
	// what the upay client trusts.
	wantGreen(t, run(provision.GatewayReach(b.base, provision.HTTPClient(b.cfg))), "TLS 1.3")
	wantGreen(t, run(provision.ClockCheck(time.Now, provision.DateRef(b.base, provision.HTTPClient(b.cfg)))), "of the gateway")
	noCA := b.cfg
	noCA.RootCAs = nil
	wantRed(t, run(provision.GatewayReach(b.base, provision.HTTPClient(noCA))), "certificate", "clock")

	plain := newBed(t, false)
	wantGreen(t, run(provision.GatewayReach(plain.base, nil)), "plain HTTP (sandbox only)")

	// The sandbox's certificate is not in the system roots.
	wantRed(t, run(provision.GatewayReach(b.base, &http.Client{})), "TLS: the gateway's certificate is not trusted", "clock")
	// Trusted CA, wrong name: the certificate is for 127.0.0.1 and example.com.
	u := strings.Replace(b.base, "127.0.0.1", "localhost", 1)
	wantRed(t, run(provision.GatewayReach(u, b.srv.Client())), "certificate", "never turn certificate checks off")

	// Stopped gateway.
	stopped := httptest.NewServer(http.NotFoundHandler())
	stopped.Close()
	wantRed(t, run(provision.GatewayReach(stopped.URL, nil)), "TCP: cannot connect to 127.0.0.1", "check network/DNS")

	// DNS failure, with a resolver that cannot reach any server.
	res := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, address string) (net.Conn, error) {
		return nil, errors.New("no DNS server reachable")
	}}
	wantRed(t, run(provision.Reach{BaseURL: "https://api.shouqianba.com", Resolver: res}.Check()), "DNS: cannot resolve api.shouqianba.com", "check network/DNS")

	// A proxy answering 502.
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusBadGateway) }))
	defer bad.Close()
	wantRed(t, run(provision.GatewayReach(bad.URL, nil)), "502", "proxy")

	// Not a TLS server behind https.
	wantRed(t, run(provision.GatewayReach(strings.Replace(plain.base, "http:", "https:", 1), nil)), "TLS: handshake", "proxy")

	wantRed(t, run(provision.GatewayReach("api.shouqianba.com", nil)), "not an http(s) URL", "https://api.shouqianba.com")
}

// Behind an HTTP proxy (HTTPS_PROXY in a shop's network) the gateway's
// name is resolved by the proxy, not here: the check must not fail on DNS.
func TestGatewayReachViaProxy(t *testing.T) {
	hosts := make(chan string, 1)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hosts <- r.URL.Host
		w.WriteHeader(http.StatusNotFound)
	}))
	defer proxy.Close()
	pu, _ := url.Parse(proxy.URL)
	client := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(pu)}}
	refuse := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, address string) (net.Conn, error) {
		return nil, errors.New("no DNS here")
	}}
	r := run(provision.Reach{BaseURL: "http://gateway.invalid", Client: client, Resolver: refuse}.Check())
	wantGreen(t, r, "via proxy "+pu.Host+", HTTP 404")
	if h := <-hosts; h != "gateway.invalid" {
		t.Errorf("proxy asked for %q", h)
	}
	proxy.Close()
	wantRed(t, run(provision.Reach{BaseURL: "http://gateway.invalid", Client: client}.Check()), "HTTP: no answer", "check network/DNS")
}

func TestCredentialsCheck(t *testing.T) {
	b := newBed(t, true)
	wantRed(t, run(provision.CredentialsCheck(b.db, b.c)), "not provisioned", "posagent provision --code")

	creds := b.provision("12345678")
	wantGreen(t, run(provision.CredentialsCheck(b.db, b.client())), "accepted by the gateway, last check-in 2026-11-25")

	stale := creds
	stale.TerminalKey, stale.PrevKey = "0123456789abcdef0123456789abcdef", ""
	if err := b.db.SaveCredentials(stale); err != nil {
		t.Fatal(err)
	}
	r := run(provision.CredentialsCheck(b.db, b.client()))
	wantRed(t, r, "ILLEGAL_SIGN", "posagent checkin")
	noSecrets(t, []string{r.Detail, r.Fix}, stale.TerminalKey, creds.TerminalKey)

	b.srv.Close()
	wantRed(t, run(provision.CredentialsCheck(b.db, b.client())), "could not be asked", "gateway check")
}

func TestDatabaseChecks(t *testing.T) {
	b := newBed(t, false)
	wantGreen(t, run(provision.DatabaseCheck(b.db)), fmt.Sprintf("schema v%d, 0 orders (0 open)", storage.SchemaVersion()))
	b.provision("12345678")
	wantGreen(t, run(provision.DatabaseCheck(b.db)), ", provisioned")

	// A second opener while the first holds the lock.
	_, err := storage.Open(b.dbPath, &storage.Options{LockTimeout: 50 * time.Millisecond, Logger: b.log})
	if !errors.Is(err, storage.ErrLocked) {
		t.Fatalf("second open: %v", err)
	}
	wantRed(t, run(provision.DatabaseOpenError(b.dbPath, err)), "another posagent", "systemctl stop posagent")

	// A file that is not a bbolt database is moved aside.
	junk := filepath.Join(t.TempDir(), "junk.db")
	os.WriteFile(junk, bytes.Repeat([]byte("not bolt "), 1000), 0o600)
	_, err = storage.Open(junk, &storage.Options{Logger: b.log})
	var ce *storage.CorruptError
	if !errors.As(err, &ce) || ce.MovedTo == "" {
		t.Fatalf("open junk: %v", err)
	}
	wantRed(t, run(provision.DatabaseOpenError(junk, err)), "corrupt", ce.MovedTo)
	// The next open starts an empty database; the doctor points at the old file.
	fresh, err := storage.Open(junk, &storage.Options{Logger: b.log})
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	wantGreen(t, run(provision.DatabaseCheck(fresh)), "1 earlier corrupt file(s) kept next to it ("+ce.MovedTo+")")

	wantRed(t, run(provision.DatabaseOpenError("/x.db", errors.New("boom"))), "/x.db: boom", "disk")
}

func TestDiskCheck(t *testing.T) {
	dir := t.TempDir()
	wantGreen(t, run(provision.DiskCheck(dir, 1)), "free of")
	wantRed(t, run(provision.DiskCheck(dir, 1<<62)), "need at least 4294967296 GiB", "journalctl --vacuum-size")
	wantRed(t, run(provision.DiskCheck(filepath.Join(dir, "missing"), 1)), "cannot inspect", "data directory")
}

// DeviceCheck with a real pseudo-terminal standing in for a serial keypad.
func TestDeviceCheck(t *testing.T) {
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer ptmx.Close()
	name := tty.Name()
	tty.Close()
	openTTY := func(path string) func(context.Context) error {
		return func(context.Context) error {
			f, err := os.OpenFile(path, os.O_RDWR, 0)
			if err != nil {
				return err
			}
			return f.Close()
		}
	}
	wantGreen(t, run(provision.DeviceCheck("keypad", openTTY(name))), "opened and responding")
	wantRed(t, run(provision.DeviceCheck("keypad", openTTY("/dev/ttyUSB-posagent-test-missing"))), "no such file", "plugged in and powered")
	wantRed(t, run(provision.DeviceCheck("printer", nil)), "not configured", "printer device")
}

// TestStrictGatewayProbe: a gateway (or proxy) that refuses HEAD and
// serves nothing at "/" still gets a green clock and gateway line: the
// doctor GETs a real API path (issue 17: "its HEAD / probe is refused by
// strict gateways"; paths from upay-v2.md, seed 002 and the Yedpay notes
// in field-notes.md).
func TestStrictGatewayProbe(t *testing.T) {
	var mu sync.Mutex
	var methods []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		methods = append(methods, r.Method+" "+r.URL.Path)
		mu.Unlock()
		if r.Method != http.MethodGet || r.URL.Path == "/" {
			// A strict front end: the connection is dropped without an answer.
			hj, _ := w.(http.Hijacker)
			c, _, _ := hj.Hijack()
			c.Close()
			return
		}
		w.WriteHeader(http.StatusMethodNotAllowed) // an API path wants a signed POST
	}))
	defer srv.Close()
	for kind, path := range map[string]string{"upay": "/upay/v2/query", "yedpay": "/v1/transactions/"} {
		mu.Lock()
		methods = nil
		mu.Unlock()
		probe := provision.ProbeURL(kind, srv.URL)
		if probe != srv.URL+path {
			t.Errorf("%s probe %s", kind, probe)
		}
		wantGreen(t, run(provision.ClockCheck(time.Now, provision.DateRef(probe, srv.Client()))), "of the gateway")
		wantGreen(t, run(provision.GatewayReach(probe, srv.Client())), "HTTP 405")
		mu.Lock()
		seen := append([]string(nil), methods...)
		mu.Unlock()
		for _, m := range seen {
			if m != "GET "+path {
				t.Errorf("%s: the doctor sent %s", kind, m)
			}
		}
	}
	// Alipay's gateway URL is the endpoint itself (seed 002: every method
	// goes to gateway.do).
	if p := provision.ProbeURL("alipay", srv.URL+"/gateway.do"); p != srv.URL+"/gateway.do" {
		t.Errorf("alipay probe %s", p)
	}
	// HEAD / as before is refused by this gateway: the old probe was red.
	req, _ := http.NewRequest(http.MethodHead, srv.URL+"/", nil)
	if _, err := srv.Client().Do(req); err == nil {
		t.Error("the strict server answered HEAD /")
	}
}

// TestMissingDatabase: a database path that does not exist is red with the
// path and the key to check, never "provision" alone (issue 17: doctor
// "tells the technician to provision a terminal that is provisioned").
func TestMissingDatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stat", "posagent.db")
	_, err := storage.OpenReadOnly(path, nil)
	if !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("read-only open of a missing file: %v", err)
	}
	wantRed(t, run(provision.DatabaseOpenError(path, err)), path+" does not exist", "terminal.database")
	if _, err := os.Stat(filepath.Dir(path)); err == nil {
		t.Error("the directory was created")
	}
}
