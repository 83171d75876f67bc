package provision_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"posagent/gateway/upay"
	"posagent/gateway/upay/sandbox"
	"posagent/provision"
	"posagent/storage"
)

// Secrets the tests plant, so that a leak is found by a plain substring
// search of errors and logs.
const (
	testVendorSN  = "91800042"
	testVendorKey = "vk-Zq81-never-print-me-3fa9"
	testAppID     = "posagent-test-app"
	testDeviceID  = "00000000abcdef12"
)

// syncBuffer collects log output from concurrent goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// signed is one request as the gateway received it.
type signed struct {
	path, auth string
	body       []byte
}

// bed is a real Upay sandbox on loopback, a client for it and a real
// bbolt file.
type bed struct {
	t      *testing.T
	sb     *sandbox.Server
	srv    *httptest.Server
	base   string
	cfg    upay.Config // vendor pair set
	c      *upay.Client
	dbPath string
	db     *storage.DB
	logs   *syncBuffer
	log    *slog.Logger
	now    time.Time

	mu     sync.Mutex
	seen   []signed
	issued []string // every terminal_key the gateway's answers delivered
}

// teeWriter keeps a copy of the answer; it passes Hijack on so that the
// sandbox's fault injection can still drop connections.
type teeWriter struct {
	http.ResponseWriter
	buf bytes.Buffer
}

func (t *teeWriter) Write(p []byte) (int, error) {
	t.buf.Write(p)
	return t.ResponseWriter.Write(p)
}

func (t *teeWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return t.ResponseWriter.(http.Hijacker).Hijack()
}

// issuedKeys returns every terminal key the gateway delivered.
func (b *bed) issuedKeys() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.issued...)
}

func newBed(t *testing.T, useTLS bool) *bed {
	t.Helper()
	b := &bed{t: t, logs: &syncBuffer{}, now: time.Date(2026, 11, 25, 9, 30, 0, 0, time.FixedZone("CST", 8*3600))}
	b.log = slog.New(slog.NewTextHandler(b.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	b.sb = sandbox.New(sandbox.Options{
		VendorSN: testVendorSN, VendorKey: testVendorKey, AppID: testAppID,
		ActivationCodes: map[string]int{"12345678": 1},
	})
	// Record what reaches the gateway, to check which key signed it.
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		b.mu.Lock()
		b.seen = append(b.seen, signed{r.URL.Path, r.Header.Get("Authorization"), body})
		b.mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(body))
		tw := &teeWriter{ResponseWriter: w}
		b.sb.ServeHTTP(tw, r)
		var env struct {
			Biz struct {
				Key string `json:"terminal_key"`
			} `json:"biz_response"`
		}
		if json.Unmarshal(tw.buf.Bytes(), &env) == nil && env.Biz.Key != "" {
			b.mu.Lock()
			b.issued = append(b.issued, env.Biz.Key)
			b.mu.Unlock()
		}
	})
	b.srv = httptest.NewUnstartedServer(h)
	// The doctor tests make untrusted handshakes on purpose.
	b.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	if useTLS {
		b.srv.StartTLS()
	} else {
		b.srv.Start()
	}
	t.Cleanup(b.srv.Close)
	b.base = b.srv.URL
	b.sb.SetBaseURL(b.base)
	b.cfg = b.vendor().Configure(b.sb.ClientConfig(b.base))
	if useTLS {
		b.cfg.RootCAs = b.srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	}
	b.cfg.Timeout = 5 * time.Second
	b.c = b.client()
	b.dbPath = filepath.Join(t.TempDir(), "posagent.db")
	b.db = b.open()
	return b
}

func (b *bed) vendor() provision.Vendor {
	return provision.Vendor{SN: testVendorSN, Key: testVendorKey, AppID: testAppID}
}

func (b *bed) client() *upay.Client {
	b.t.Helper()
	c, err := upay.New(b.cfg)
	if err != nil {
		b.t.Fatal(err)
	}
	return c
}

func (b *bed) open() *storage.DB {
	b.t.Helper()
	db, err := storage.Open(b.dbPath, &storage.Options{LockTimeout: 200 * time.Millisecond, Logger: b.log, Now: func() time.Time { return b.now }})
	if err != nil {
		b.t.Fatal(err)
	}
	b.t.Cleanup(func() { db.Close() })
	return db
}

func (b *bed) params(code string) provision.Params {
	return provision.Params{
		Code: code, DeviceID: testDeviceID, Vendor: b.vendor(), Name: "Counter 1",
		OSInfo: "test linux", Now: func() time.Time { return b.now }, Log: b.log,
	}
}

func (b *bed) provision(code string) storage.Credentials {
	b.t.Helper()
	creds, err := provision.Provision(context.Background(), b.db, b.c, b.params(code))
	if err != nil {
		b.t.Fatalf("Provision: %v", err)
	}
	return creds
}

// requests returns what reached the gateway on path.
func (b *bed) requests(path string) []signed {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []signed
	for _, s := range b.seen {
		if s.path == path {
			out = append(out, s)
		}
	}
	return out
}

// signedWith reports whether req was signed with key.
func signedWith(req signed, key string) bool {
	_, sign, _ := strings.Cut(req.auth, " ")
	return key != "" && sign == upay.Sign(req.body, key)
}

// noSecrets fails when any of secrets appears in any of texts.
func noSecrets(t *testing.T, texts []string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if s == "" {
			continue
		}
		for _, x := range texts {
			if strings.Contains(x, s) {
				t.Errorf("a secret leaked into %q", x)
			}
		}
	}
}
