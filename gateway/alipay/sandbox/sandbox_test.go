package sandbox

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"posagent/gateway"
)

// These tests talk to the sandbox with hand-built requests, signed here
// with the standard library and the OpenSSL-generated keys in
// ../testdata, so the sandbox is checked apart from the client.

func readKey(t *testing.T, name string) *rsa.PrivateKey {
	t.Helper()
	b, err := os.ReadFile("../testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	k, err := x509.ParsePKCS1PrivateKey(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

type rig struct {
	srv  *httptest.Server
	sb   *Server
	app  *rsa.PrivateKey
	ali  *rsa.PrivateKey
	now  time.Time
	mu   sync.Mutex
	tick time.Duration
}

func (r *rig) clock() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.now.Add(r.tick)
}

func (r *rig) advance(d time.Duration) {
	r.mu.Lock()
	r.tick += d
	r.mu.Unlock()
}

func newRig(t *testing.T, ttl time.Duration) *rig {
	r := &rig{app: readKey(t, "app_key_pkcs1.pem"), ali: readKey(t, "alipay_key_pkcs1.pem"), now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	r.sb = New(Options{AppPublicKey: &r.app.PublicKey, AlipayKey: r.ali, OrderTTL: ttl, Now: r.clock})
	r.srv = httptest.NewServer(r.sb)
	t.Cleanup(r.srv.Close)
	r.sb.SetBaseURL(r.srv.URL)
	return r
}

// call posts a request signed by hand; mutate may tamper after signing.
func (r *rig) call(t *testing.T, signType, method, biz string, mutate func(url.Values)) (inner []byte, fields map[string]string) {
	t.Helper()
	v := url.Values{}
	v.Set("app_id", DefaultAppID)
	v.Set("method", method)
	v.Set("charset", "utf-8")
	v.Set("sign_type", signType)
	v.Set("timestamp", r.clock().In(time.FixedZone("", 8*3600)).Format("2006-01-02 15:04:05"))
	v.Set("version", "1.0")
	v.Set("biz_content", biz)
	keys := make([]string, 0, len(v))
	for k := range v {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var content bytes.Buffer
	for i, k := range keys {
		if i > 0 {
			content.WriteByte('&')
		}
		content.WriteString(k + "=" + v.Get(k))
	}
	var sig []byte
	var err error
	if signType == "RSA" {
		d := sha1.Sum(content.Bytes())
		sig, err = rsa.SignPKCS1v15(rand.Reader, r.app, crypto.SHA1, d[:])
	} else {
		d := sha256.Sum256(content.Bytes())
		sig, err = rsa.SignPKCS1v15(rand.Reader, r.app, crypto.SHA256, d[:])
	}
	if err != nil {
		t.Fatal(err)
	}
	v.Set("sign", base64.StdEncoding.EncodeToString(sig))
	if mutate != nil {
		mutate(v)
	}
	resp, err := http.PostForm(r.srv.URL+"/gateway.do", v)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		t.Fatalf("answer %s: %v", body, err)
	}
	var key string
	for k := range top {
		if k != "sign" {
			key = k
		}
	}
	inner = top[key]
	var sign string
	json.Unmarshal(top["sign"], &sign)
	json.Unmarshal(inner, &fields)
	if sign == "" && key == "error_response" && (fields["sub_code"] == "isv.invalid-app-id" || fields["sub_code"] == "isv.invalid-method") {
		// Unsigned, as the real gateway sends these (field-notes.md).
		fields["_key"] = key
		return inner, fields
	}
	raw, _ := base64.StdEncoding.DecodeString(sign)
	if signType == "RSA" {
		d := sha1.Sum(inner)
		err = rsa.VerifyPKCS1v15(&r.ali.PublicKey, crypto.SHA1, d[:], raw)
	} else {
		d := sha256.Sum256(inner)
		err = rsa.VerifyPKCS1v15(&r.ali.PublicKey, crypto.SHA256, d[:], raw)
	}
	if err != nil {
		t.Fatalf("answer signature does not verify: %s", body)
	}
	json.Unmarshal(inner, &fields)
	fields["_key"] = key
	return inner, fields
}

func TestRequestChecks(t *testing.T) {
	r := newRig(t, time.Minute)
	biz := `{"out_trade_no":"K1","total_amount":"1.00","subject":"s"}`
	inner, f := r.call(t, "RSA2", "alipay.trade.precreate", biz, nil)
	if f["code"] != "10000" || f["_key"] != "alipay_trade_precreate_response" || !strings.HasPrefix(f["qr_code"], r.srv.URL+"/qr/bax") {
		t.Fatalf("precreate: %v", f)
	}
	if !bytes.Contains(inner, []byte(`:\/\/`)) {
		t.Fatalf("answer not written with \\/ escapes: %s", inner)
	}
	_, f = r.call(t, "RSA", "alipay.trade.precreate", `{"out_trade_no":"K2","total_amount":"1","subject":"s"}`, nil)
	if f["code"] != "10000" {
		t.Fatalf("RSA: %v", f)
	}
	cases := []struct {
		name   string
		method string
		mutate func(url.Values)
		sub    string
	}{
		{"tampered amount", "alipay.trade.precreate", func(v url.Values) { v.Set("biz_content", strings.Replace(biz, "1.00", "0.01", 1)) }, "isv.invalid-signature"},
		{"extra parameter after signing", "alipay.trade.precreate", func(v url.Values) { v.Set("notify_url", "http://x") }, "isv.invalid-signature"},
		{"missing sign", "alipay.trade.precreate", func(v url.Values) { v.Del("sign") }, "isv.missing-signature"},
		{"wrong app", "alipay.trade.precreate", func(v url.Values) { v.Set("app_id", "1") }, "isv.invalid-app-id"},
		{"old timestamp", "alipay.trade.precreate", func(v url.Values) { v.Set("timestamp", "2014-07-24 03:07:50") }, "isv.invalid-timestamp"},
		{"bad sign type", "alipay.trade.precreate", func(v url.Values) { v.Set("sign_type", "MD5") }, "isv.invalid-signature-type"},
		{"unknown method", "alipay.trade.pay", nil, "isv.invalid-method"},
		// Issue 13: a strict gateway refused charset sent twice.
		{"parameter twice", "alipay.trade.precreate", func(v url.Values) { v.Add("charset", "utf-8") }, "isv.invalid-parameter"},
	}
	for _, c := range cases {
		_, f := r.call(t, "RSA2", c.method, biz, c.mutate)
		if f["sub_code"] != c.sub {
			t.Errorf("%s: %v, want %s", c.name, f, c.sub)
		}
		if c.method == "alipay.trade.pay" && f["_key"] != "error_response" {
			t.Errorf("unknown method answered in %s", f["_key"])
		}
	}
	for _, bad := range []string{
		`{"out_trade_no":"K3","total_amount":"1.001","subject":"s"}`,
		`{"out_trade_no":"K3","total_amount":"0.00","subject":"s"}`,
		`{"out_trade_no":"K3","total_amount":"1.00"}`,
		`{"out_trade_no":"K3","total_amount":"1.00","subject":"s","timeout_express":"16d"}`,
		`{"out_trade_no":"K3","total_amount":1,"subject":"s"}`,
		`not json`,
	} {
		_, f := r.call(t, "RSA2", "alipay.trade.precreate", bad, nil)
		if f["sub_code"] != "ACQ.INVALID_PARAMETER" {
			t.Errorf("%s: %v", bad, f)
		}
	}
	if n := len(r.sb.Ledger().Orders); n != 2 {
		t.Fatalf("%d orders, want 2", n)
	}
}

func TestTimeoutExpressShortensTTL(t *testing.T) {
	r := newRig(t, time.Hour)
	r.call(t, "RSA2", "alipay.trade.precreate", `{"out_trade_no":"E1","total_amount":"1.00","subject":"s","timeout_express":"2m"}`, nil)
	r.advance(119 * time.Second)
	if err := r.sb.Scan("E1"); err != nil {
		t.Fatal(err)
	}
	r.advance(time.Second)
	if err := r.sb.Pay("E1"); err == nil {
		t.Fatal("paid after timeout_express")
	}
	if l := r.sb.Ledger().Orders[0]; l.Status != gateway.StatusCanceled || l.Charges != 0 {
		t.Fatalf("%+v", l)
	}
}

func TestConcurrentPaysChargeOnce(t *testing.T) {
	r := newRig(t, time.Hour)
	r.call(t, "RSA2", "alipay.trade.precreate", `{"out_trade_no":"P1","total_amount":"1.00","subject":"s"}`, nil)
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); r.sb.Pay("P1") }()
		wg.Add(1)
		go func() { defer wg.Done(); r.sb.Decline("P1") }()
	}
	wg.Wait()
	l := r.sb.Ledger().Orders[0]
	if l.Charges > 1 {
		t.Fatalf("charged %d times", l.Charges)
	}
	if (l.Charges == 1) != (l.Status == gateway.StatusPaid) {
		t.Fatalf("%+v", l)
	}
}

func TestControlPaths(t *testing.T) {
	r := newRig(t, time.Hour)
	r.call(t, "RSA2", "alipay.trade.precreate", `{"out_trade_no":"Q1","total_amount":"9.50","subject":"<b>tea</b>"}`, nil)
	r.sb.mu.Lock()
	code := r.sb.byOut["Q1"].code
	r.sb.mu.Unlock()
	resp, err := http.Get(r.srv.URL + "/qr/" + code)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if strings.Contains(string(page), "<b>tea") || !strings.Contains(string(page), "¥9.50") {
		t.Fatalf("page: %s", page)
	}
	for _, c := range []struct {
		path string
		want int
	}{ // in this order: decline first, then pay fails
		{"/sandbox/orders/Q1/decline", 200},
		{"/sandbox/orders/Q1/pay", http.StatusConflict},   // closed
		{"/sandbox/orders/nope/pay", http.StatusNotFound}, // sandboxkit: unknown order
		{"/sandbox/orders/Q1/refund", http.StatusNotFound},
	} {
		path, want := c.path, c.want
		resp, err := http.Post(r.srv.URL+path, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("%s: %d, want %d", path, resp.StatusCode, want)
		}
	}
	resp, _ = http.Get(r.srv.URL + "/qr/nope")
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("unknown QR: %d", resp.StatusCode)
	}
}

func TestBrowserButtonsComeBackToThePage(t *testing.T) {
	r := newRig(t, time.Hour)
	r.call(t, "RSA2", "alipay.trade.precreate", `{"out_trade_no":"B1","total_amount":"1.00","subject":"s"}`, nil)
	req, _ := http.NewRequest("POST", r.srv.URL+"/sandbox/orders/B1/pay", nil)
	req.Header.Set("Accept", "text/html,application/xhtml+xml")
	resp, err := http.DefaultClient.Do(req) // follows the 303 with a GET
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(page), `Status: <b id="status">PAID</b>`) {
		t.Fatalf("page after pay: %s", page)
	}
}
