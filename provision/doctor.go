package provision

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"posagent/gateway"
	"posagent/gateway/upay"
	"posagent/storage"
)

// Result is the outcome of one doctor check.
type Result struct {
	OK     bool
	Detail string // what was found
	Fix    string // what to try when it is red
}

// Check is one line of `posagent doctor`.
type Check struct {
	Name string
	Run  func(ctx context.Context) Result
	// Timeout bounds Run; 0 means CheckTimeout. A deep database
	// verification needs minutes on a long history.
	Timeout time.Duration
}

// CheckTimeout bounds one check in RunChecks.
const CheckTimeout = 15 * time.Second

// Style picks the marks RunChecks prints.
type Style int

const (
	// StyleUnicode prints "✔ name: detail" and "✘ name: detail — fix: …".
	StyleUnicode Style = iota
	// StyleASCII prints "[ok] name: detail" and "[FAIL] name: detail -- fix: …",
	// for dumb terminals, serial consoles and non-UTF-8 locales.
	StyleASCII
)

// StyleFromEnv returns StyleASCII when TERM is unset or "dumb" or the
// locale (LC_ALL, LC_CTYPE, LANG, first one set) is not UTF-8. Pass
// os.Getenv.
func StyleFromEnv(getenv func(string) string) Style {
	if t := getenv("TERM"); t == "" || t == "dumb" {
		return StyleASCII
	}
	for _, k := range []string{"LC_ALL", "LC_CTYPE", "LANG"} {
		if v := getenv(k); v != "" {
			v = strings.ToLower(v)
			if strings.Contains(v, "utf-8") || strings.Contains(v, "utf8") {
				return StyleUnicode
			}
			return StyleASCII
		}
	}
	return StyleASCII
}

// RunChecks runs checks in order, prints one line per check to w in the
// style of the environment (StyleFromEnv(os.Getenv)) and reports whether
// all were green. `posagent doctor` exits non-zero when it returns false.
func RunChecks(ctx context.Context, checks []Check, w io.Writer) (allOK bool) {
	return RunChecksStyle(ctx, checks, w, StyleFromEnv(os.Getenv))
}

// RunChecksStyle is RunChecks with an explicit style.
func RunChecksStyle(ctx context.Context, checks []Check, w io.Writer, style Style) (allOK bool) {
	allOK = true
	for _, c := range checks {
		r := runOne(ctx, c)
		if !r.OK {
			allOK = false
		}
		fmt.Fprintln(w, formatResult(c.Name, r, style))
	}
	return allOK
}

func runOne(ctx context.Context, c Check) (r Result) {
	if c.Run == nil {
		return Result{Detail: "check has nothing to run", Fix: "this is a bug in posagent; report it"}
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = CheckTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	defer func() {
		if v := recover(); v != nil {
			r = Result{Detail: fmt.Sprintf("check crashed: %v", v), Fix: "this is a bug in posagent; report it with this line"}
		}
	}()
	return c.Run(ctx)
}

func formatResult(name string, r Result, style Style) string {
	ok, fail, dash := "✔", "✘", "—"
	if style == StyleASCII {
		ok, fail, dash = "[ok]", "[FAIL]", "--"
	}
	line := func(s string) string { return strings.Join(strings.Fields(s), " ") }
	if r.OK {
		return fmt.Sprintf("%s %s: %s", ok, name, line(r.Detail))
	}
	s := fmt.Sprintf("%s %s: %s", fail, name, line(r.Detail))
	if r.Fix != "" {
		s += " " + dash + " fix: " + line(r.Fix)
	}
	return s
}

func green(format string, args ...any) Result {
	return Result{OK: true, Detail: fmt.Sprintf(format, args...)}
}

func red(detail, fix string) Result { return Result{Detail: detail, Fix: fix} }

// Clock.

// MaxClockSkew is how far the local clock may be from the gateway's.
// Upay signs nothing with time, but order deadlines, daily check-in and the
// TLS certificate checks all read the wall clock.
const MaxClockSkew = 5 * time.Minute

// clockFloor: a clock before this is certainly wrong (a Pi has no battery
// clock and boots at the last saved time, or 1970).
var clockFloor = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

const clockFix = "set the time: `timedatectl status` should say \"System clock synchronized: yes\"; check NTP (`systemctl status systemd-timesyncd`) and that UDP port 123 is allowed; a Pi has no battery clock, add an RTC if it boots offline"

// ClockCheck compares now() with the gateway's time as ref reports it
// (see DateRef) and is red when they differ by more than MaxClockSkew, or
// when the clock reads a date before 2025.
func ClockCheck(now func() time.Time, ref func(ctx context.Context) (time.Time, error)) Check {
	if now == nil {
		now = time.Now
	}
	return Check{Name: "clock", Run: func(ctx context.Context) Result {
		t0 := now()
		if t0.Before(clockFloor) {
			return red(fmt.Sprintf("the clock reads %s, which cannot be right", t0.UTC().Format(time.RFC3339)), clockFix)
		}
		r, err := ref(ctx)
		t1 := now()
		if err != nil {
			fix := "see the gateway check below; "
			var cie x509.CertificateInvalidError
			if errors.As(err, &cie) && cie.Reason == x509.Expired {
				fix = "the certificate looks expired or not yet valid, which is what a wrong clock does: "
			}
			return red("cannot read the gateway's time: "+err.Error(), fix+clockFix)
		}
		local := t0.Add(t1.Sub(t0) / 2)
		// The Date header has whole seconds; beyond a minute, say minutes.
		raw := local.Sub(r)
		off := raw.Round(time.Second)
		if off.Abs() >= time.Minute {
			off = off.Round(time.Minute)
		}
		switch {
		case raw > MaxClockSkew:
			return red(fmt.Sprintf("the clock is %s ahead of the gateway (here %s, gateway %s)", off, local.UTC().Format(time.RFC3339), r.UTC().Format(time.RFC3339)), clockFix)
		case raw < -MaxClockSkew:
			return red(fmt.Sprintf("the clock is %s behind the gateway (here %s, gateway %s)", -off, local.UTC().Format(time.RFC3339), r.UTC().Format(time.RFC3339)), clockFix)
		}
		return green("within %s of the gateway (%s)", off.Abs(), local.Format("2006-01-02 15:04:05 MST"))
	}}
}

// HTTPClient returns an HTTP client that reaches the gateway the way the
// upay client built from cfg does (cfg.HTTPClient, cfg.Transport, or a
// clone of http.DefaultTransport with cfg.RootCAs, proxy from the
// environment), for DateRef and GatewayReach. Per-call deadlines come from
// the doctor's context.
func HTTPClient(cfg upay.Config) *http.Client {
	if cfg.HTTPClient != nil {
		return cfg.HTTPClient
	}
	if cfg.Transport != nil {
		return &http.Client{Transport: cfg.Transport}
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	if cfg.RootCAs != nil {
		t.TLSClientConfig = &tls.Config{RootCAs: cfg.RootCAs, MinVersion: tls.VersionTLS12}
	}
	return &http.Client{Transport: t}
}

// DateRef returns a ref for ClockCheck: the Date header of a plain GET of
// probeURL, a real endpoint of the gateway (see ProbeURL). Any HTTP status
// will do: an API path that wants a signed POST answers a GET with an error,
// and the header is there all the same. GET, not HEAD: strict gateways and
// proxies refuse HEAD.
func DateRef(probeURL string, client *http.Client) func(ctx context.Context) (time.Time, error) {
	if client == nil {
		client = http.DefaultClient
	}
	return func(ctx context.Context) (time.Time, error) {
		resp, err := get(ctx, client, probeURL)
		if err != nil {
			return time.Time{}, err
		}
		d := resp.Header.Get("Date")
		if d == "" {
			return time.Time{}, fmt.Errorf("HTTP %d without a Date header", resp.StatusCode)
		}
		t, err := http.ParseTime(d)
		if err != nil {
			return time.Time{}, fmt.Errorf("unreadable Date header %q", d)
		}
		return t, nil
	}
}

// get is a plain GET of u ("/" when u has no path); the body is read (a
// little of it) and closed so that the connection is reused.
func get(ctx context.Context, client *http.Client, u string) (*http.Response, error) {
	if pu, err := url.Parse(u); err == nil && pu.Path == "" {
		u = strings.TrimRight(u, "/") + "/"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	return resp, nil
}

// ProbeURL is the endpoint the doctor GETs on each gateway: an API path
// the gateway really serves (it refuses an unsigned GET, which is the
// answer wanted), never "/", which some gateways do not serve at all.
//
//   - upay: /upay/v2/query (upay-v2.md: every call is a POST under the
//     API domain);
//   - alipay: the gateway URL itself, e.g. https://openapi.alipay.com/gateway.do
//     (seed 002: every method is sent to that one URL);
//   - yedpay: /v1/transactions/ (field notes: "Show Transaction" is
//     GET /v1/transactions/{id}, Bearer token).
func ProbeURL(kind, baseURL string) string {
	base := strings.TrimRight(baseURL, "/")
	switch kind {
	case "upay":
		return base + "/upay/v2/query"
	case "yedpay":
		return base + "/v1/transactions/"
	}
	return baseURL
}

// Gateway reach.

// Reach checks the way to the gateway step by step, so that the red line
// says which step failed: DNS, TCP, TLS (with verification, as the client
// does) and an HTTP answer to a plain GET.
type Reach struct {
	// BaseURL is the URL to GET (see ProbeURL); "/" when it has no path.
	BaseURL string
	// Client makes the HTTP request; its *http.Transport's TLSClientConfig
	// (RootCAs) is used for the handshake. Nil means http.DefaultClient.
	Client *http.Client
	// Resolver for the DNS step; nil means net.DefaultResolver.
	Resolver *net.Resolver
}

// GatewayReach is Reach{BaseURL: baseURL, Client: client}.Check().
func GatewayReach(baseURL string, client *http.Client) Check {
	return Reach{BaseURL: baseURL, Client: client}.Check()
}

// Check returns the doctor check.
func (g Reach) Check() Check {
	return Check{Name: "gateway", Run: g.run}
}

func (g Reach) run(ctx context.Context) Result {
	u, err := url.Parse(g.BaseURL)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return red(fmt.Sprintf("the gateway URL %q is not an http(s) URL", g.BaseURL), "set the gateway URL in the config, e.g. https://api.shouqianba.com")
	}
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = map[string]string{"https": "443", "http": "80"}[u.Scheme]
	}
	netFix := fmt.Sprintf("check network/DNS: is the cable or Wi-Fi up (`ip addr`), is a default route there (`ip route`), does `getent hosts %s` answer; check the firewall and the gateway URL in the config (%s)", host, g.BaseURL)
	client := g.Client
	if client == nil {
		client = http.DefaultClient
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, g.BaseURL, nil)
	if err != nil {
		return red("HTTP: "+err.Error(), netFix)
	}

	var steps []string
	if proxy := g.proxy(req); proxy != nil {
		// The client goes through a proxy (HTTPS_PROXY): resolving and
		// dialling the gateway directly would test a path it never takes.
		steps = append(steps, "via proxy "+proxy.Host)
	} else {
		if r := g.direct(ctx, u.Scheme, host, port, netFix, &steps); r != nil {
			return *r
		}
	}

	// HTTP: any answer but a 5xx means the gateway is there.
	start := time.Now()
	resp, err := get(ctx, client, g.BaseURL)
	if err != nil {
		if certError(err) {
			return red("HTTP: the gateway's certificate is not trusted: "+err.Error(), certFix)
		}
		return red("HTTP: no answer: "+err.Error(), netFix)
	}
	took := time.Since(start).Round(time.Millisecond)
	if resp.StatusCode >= 500 {
		return red(fmt.Sprintf("HTTP: the gateway answered %s", resp.Status), "a proxy in between or the gateway is failing; try again later, and check any HTTP proxy settings (HTTPS_PROXY)")
	}
	steps = append(steps, fmt.Sprintf("HTTP %d in %s", resp.StatusCode, max(took, time.Millisecond)))
	return green("%s", strings.Join(steps, ", "))
}

const certFix = "check the clock first (a wrong date makes a valid certificate look expired or not yet valid); a captive portal or a proxy that intercepts HTTPS causes this too: connect without it; never turn certificate checks off"

func certError(err error) bool {
	var uae x509.UnknownAuthorityError
	var cie x509.CertificateInvalidError
	var hne x509.HostnameError
	var ve *tls.CertificateVerificationError
	return errors.As(err, &uae) || errors.As(err, &cie) || errors.As(err, &hne) || errors.As(err, &ve)
}

// proxy returns the proxy the client's transport would use for req.
func (g Reach) proxy(req *http.Request) *url.URL {
	rt := http.DefaultTransport
	if g.Client != nil && g.Client.Transport != nil {
		rt = g.Client.Transport
	}
	tr, ok := rt.(*http.Transport)
	if !ok || tr.Proxy == nil {
		return nil
	}
	p, err := tr.Proxy(req)
	if err != nil {
		return nil
	}
	return p
}

// direct resolves, dials and (for https) handshakes with the gateway,
// appending what it found to steps; it returns a red result on failure.
func (g Reach) direct(ctx context.Context, scheme, host, port, netFix string, steps *[]string) *Result {
	fail := func(detail, fix string) *Result { r := red(detail, fix); return &r }

	// DNS.
	addrs := []string{host}
	if net.ParseIP(host) == nil {
		res := g.Resolver
		if res == nil {
			res = net.DefaultResolver
		}
		var err error
		addrs, err = res.LookupHost(ctx, host)
		if err != nil || len(addrs) == 0 {
			if err == nil {
				err = errors.New("no addresses")
			}
			return fail(fmt.Sprintf("DNS: cannot resolve %s: %v", host, err), netFix)
		}
		*steps = append(*steps, "DNS "+host+" → "+addrs[0])
	}

	// TCP, to each address in turn as net/http would.
	var d net.Dialer
	var conn net.Conn
	var err error
	for _, a := range addrs {
		if conn, err = d.DialContext(ctx, "tcp", net.JoinHostPort(a, port)); err == nil {
			break
		}
	}
	if err != nil {
		return fail(fmt.Sprintf("TCP: cannot connect to %s port %s: %v", host, port, err), netFix)
	}
	*steps = append(*steps, "TCP "+conn.RemoteAddr().String())

	if scheme != "https" {
		conn.Close()
		*steps = append(*steps, "plain HTTP (sandbox only)")
		return nil
	}
	// TLS, verified exactly as the client would.
	cfg := g.tlsConfig()
	cfg.ServerName = host
	tc := tls.Client(conn, cfg)
	err = tc.HandshakeContext(ctx)
	tc.Close()
	if err != nil {
		if certError(err) {
			return fail("TLS: the gateway's certificate is not trusted: "+err.Error(), certFix)
		}
		return fail("TLS: handshake with "+host+" failed: "+err.Error(), "a proxy or firewall may be cutting HTTPS; "+netFix)
	}
	st := tc.ConnectionState()
	detail := tls.VersionName(st.Version) // "TLS 1.3"
	if len(st.PeerCertificates) > 0 {
		detail += " (certificate valid until " + st.PeerCertificates[0].NotAfter.UTC().Format("2006-01-02") + ")"
	}
	*steps = append(*steps, detail)
	return nil
}

func (g Reach) tlsConfig() *tls.Config {
	if g.Client != nil {
		if tr, ok := g.Client.Transport.(*http.Transport); ok && tr.TLSClientConfig != nil {
			cfg := tr.TLSClientConfig.Clone()
			cfg.InsecureSkipVerify = false // the doctor checks what the client must do
			return cfg
		}
	}
	return &tls.Config{MinVersion: tls.VersionTLS12}
}

// Credentials.

// CredentialsCheck is green when the terminal is provisioned and the
// gateway accepts its key: a query for an order that cannot exist must be
// answered "order not found" (a signed, accepted request), not
// ILLEGAL_SIGN. It sets c's terminal pair from db.
func CredentialsCheck(db *storage.DB, c *upay.Client) Check {
	return Check{Name: "credentials", Run: func(ctx context.Context) Result {
		creds, err := db.Credentials()
		if errors.Is(err, storage.ErrNotFound) {
			return red("this device is not provisioned", "run `posagent provision --code <activation code>`")
		}
		if err != nil {
			return red(err.Error(), "see the database check")
		}
		c.SetTerminal(creds.TerminalSN, creds.TerminalKey)
		b := make([]byte, 8)
		rand.Read(b)
		_, err = c.Query(ctx, gateway.Ref{ClientSN: "doctor-" + hex.EncodeToString(b)})
		last := "never checked in"
		if !creds.LastCheckin.IsZero() {
			last = "last check-in " + creds.LastCheckin.Local().Format("2006-01-02 15:04")
		}
		sn := MaskSN(creds.TerminalSN)
		switch {
		case err == nil || errors.Is(err, gateway.ErrOrderNotFound):
			return green("terminal %s accepted by the gateway, %s", sn, last)
		case errors.Is(err, gateway.ErrAuth):
			return red(fmt.Sprintf("the gateway refused terminal %s: %v (%s)", sn, err, last),
				"run `posagent checkin`; if that is refused too, the key is stale: provision again with a new code (`posagent provision --code <code> --force`)")
		case gateway.ClassOf(err) == gateway.NotSent:
			return red(fmt.Sprintf("terminal %s is provisioned but the gateway could not be asked: %v", sn, err), "see the gateway check")
		}
		return red(fmt.Sprintf("terminal %s: the gateway gave no clear answer: %v", sn, err), "try again; if it persists, see the gateway check")
	}}
}

// GatewayCredentialsCheck is CredentialsCheck for gateways whose
// credentials are files in the configuration (Alipay: app id and keys;
// Yedpay: store id and token). query asks about an order that cannot
// exist: a signed, verified "not found" proves the credentials the call
// carries; an authentication refusal is red with what to fix. who names the
// credentials ("app 2021…"), fix says where they are set.
func GatewayCredentialsCheck(name, who string, query func(ctx context.Context, ref gateway.Ref) (gateway.Order, error), fix string) Check {
	return Check{Name: "credentials", Run: func(ctx context.Context) Result {
		b := make([]byte, 8)
		rand.Read(b)
		sn := "DOCTOR" + strings.ToUpper(hex.EncodeToString(b))
		_, err := query(ctx, gateway.Ref{ClientSN: sn})
		switch {
		case err == nil || errors.Is(err, gateway.ErrOrderNotFound):
			return green("%s %s accepted: a signed query for an order that cannot exist was answered \"not found\"", name, who)
		case errors.Is(err, gateway.ErrAuth), errors.Is(err, gateway.ErrConfig):
			return red(fmt.Sprintf("%s refused %s: %v", name, who, err), fix)
		case gateway.ClassOf(err) == gateway.NotSent:
			return red(fmt.Sprintf("%s could not be asked: %v", name, err), "see the gateway check")
		}
		return red(fmt.Sprintf("%s gave no clear answer about %s: %v", name, who, err),
			"an answer whose signature does not verify usually means the wrong gateway public key is configured; otherwise try again and see the gateway check")
	}}
}

// Database.

// DatabaseCheck reads the database's statistics and schema version.
func DatabaseCheck(db *storage.DB) Check {
	return Check{Name: "database", Run: func(ctx context.Context) Result {
		st, err := db.Stats()
		if err != nil {
			return red(db.Path()+": "+err.Error(), "stop the service, back up the file, and run `posagent doctor` again; a corrupt file is moved aside at the next start")
		}
		if want := storage.SchemaVersion(); st.SchemaVersion != want {
			return red(fmt.Sprintf("%s has schema version %d, this build uses %d", db.Path(), st.SchemaVersion, want),
				"start the agent once (it migrates the file), or install the posagent version that wrote it")
		}
		prov := "provisioned"
		if !st.Provisioned {
			prov = "not provisioned"
		}
		d := fmt.Sprintf("%s: schema v%d, %d orders (%d open), %d KiB, %s", db.Path(), st.SchemaVersion, st.Orders, st.Pending, st.FileSize/1024, prov)
		if len(st.MovedAside) > 0 {
			d += fmt.Sprintf("; %d earlier corrupt file(s) kept next to it (%s)", len(st.MovedAside), st.MovedAside[len(st.MovedAside)-1])
		}
		return green("%s", d)
	}}
}

// DatabaseOpenError is the red line for a database that could not be
// opened (storage.Open's error), with the fix for each kind of failure.
func DatabaseOpenError(path string, err error) Check {
	return Check{Name: "database", Run: func(ctx context.Context) Result {
		var ce *storage.CorruptError
		switch {
		case errors.Is(err, storage.ErrNotFound):
			return red(path+" does not exist",
				"check terminal.database in the configuration; the service creates the file when it first starts, and a new Upay terminal needs `posagent provision --code <code>` first")
		case errors.Is(err, storage.ErrLocked):
			return red(err.Error(), "another posagent holds the file, most likely the running service (then it is in use and fine): `systemctl stop posagent` to check it here, or use `posagent status`")
		case errors.As(err, &ce) && ce.MovedTo != "":
			return red(err.Error(), fmt.Sprintf("the damaged file is kept at %s: restore a backup to %s, or provision again (orders in the old file stay there for support)", ce.MovedTo, path))
		case errors.As(err, &ce):
			return red(err.Error(), fmt.Sprintf("stop the service and restore a backup to %s, or move it aside and provision again", path))
		case errors.Is(err, os.ErrPermission):
			return red(err.Error(), "run the doctor as the posagent service user: `sudo -u posagent posagent doctor`")
		}
		return red(path+": "+err.Error(), "check that the directory exists and the disk is writable (see the disk check)")
	}}
}

// Devices.

// DeviceCheck opens a peripheral (keypad, display, printer) with open,
// which should also ask it something (printer status, a display frame).
func DeviceCheck(name string, open func(ctx context.Context) error) Check {
	return Check{Name: name, Run: func(ctx context.Context) Result {
		if open == nil {
			return red("not configured", "set the "+name+" device in the config")
		}
		if err := open(ctx); err != nil {
			return red(err.Error(), fmt.Sprintf("check that the %s is plugged in and powered, the device path in the config, and that the posagent user may open it (groups dialout, lp, spi, gpio)", name))
		}
		return green("opened and responding")
	}}
}
