// Package sandbox is an Alipay open platform gateway for tests and demos:
// it answers alipay.trade.precreate, query, close and refund at
// /gateway.do the way the real gateway does, closely enough to drive every
// path of posagent/gateway/alipay and the sale engine without the network.
//
// What it reproduces, because the terminal must cope with it (sources:
// seed 002, ../../../../shared/spec/field-notes.md "Alipay face-to-face"):
//   - Requests are checked like the real gateway does: the common
//     parameters of seed 002 (lines 13-23), charset, timestamp (Beijing
//     time, field-notes.md line 31; within 15 minutes) and the RSA2/RSA
//     signature over the sorted key=value string (field-notes.md lines
//     22-23), verified with code written apart from the client's. Failures
//     answer the open platform's documented codes (40001/40002 isv.*,
//     40004 ACQ.*).
//   - Answers are signed with the sandbox's own "Alipay" key over the raw
//     bytes of the *_response value, and written with "\/" escapes as
//     Alipay's serializer does (field-notes.md lines 24-26), so a client
//     that re-serialises before verifying fails here as it would in the
//     field.
//   - A precreated trade does not exist for query until the payer scans
//     the code (field-notes.md lines 34-35; GET of the QR URL, Scan, or
//     Pay); closing it before that answers ACQ.TRADE_NOT_EXIST but locks
//     the code, so it can no longer be paid (alipay.go's package doc:
//     "本笔交易已关闭" when scanned later).
//   - close fails on a paid trade (field-notes.md lines 36-38:
//     ACQ.TRADE_STATUS_ERROR); refunds are idempotent by out_request_no,
//     and a repeat with another amount is ACQ.DISCORDANT_REPEAT_REQUEST;
//     precreate is idempotent by out_trade_no while the trade is open
//     (seed 002 line 28: out_trade_no "is used for idempotence check"), and
//     another amount or subject is ACQ.CONTEXT_INCONSISTENT.
//   - Unpaid trades close by themselves after OrderTTL or the request's
//     timeout_express (seed 002, lines 58-61), whichever is shorter,
//     measured with Options.Now.
//   - A parameter sent twice (in the query string and the body, say) is
//     refused with 40002 isv.invalid-parameter, as the independent gateway
//     of issue 13 refused a duplicated charset.
//   - isv.invalid-app-id and isv.invalid-method come as error_response with
//     an empty sign (field-notes.md: "Some error_response bodies really
//     come unsigned (e.g. isv.invalid-app-id; isv.invalid-signature answers
//     are signed)"; issue 13: a gateway without alipay.trade.close answered
//     isv.invalid-method, unsigned).
//
// Like every sandbox in posagent it serves, through
// posagent/gateway/sandboxkit, GET /sandbox/ledger,
// POST /sandbox/orders/{id}/pay|decline|scan, and the fault injector and
// personalities at /sandbox/faults; the API handler is wrapped by the
// injector.
//
// Personalities (sandboxkit.Personality):
//   - NoCancel: alipay.trade.close does not exist: error_response
//     40002 isv.invalid-method, unsigned, like any unknown method.
//   - CancelRefused: close of an open trade answers 40004
//     ACQ.TRADE_STATUS_ERROR (the documented refusal of close) and the
//     trade stays payable.
//   - LatePayAfterCancel: after a refused or absent close the payer pays,
//     half way between the close and the trade's expiry.
//   - ConfirmedThenNotFound: query by out_trade_no answers
//     ACQ.TRADE_NOT_EXIST for an open trade even after it was scanned; by
//     trade_no it works. Alipay's own "does not exist until scanned"
//     (field-notes.md lines 34-35) is this personality's everyday form; a
//     paid or closed trade is found again, since Alipay's precreate answer
//     carries no trade_no and nothing else could find it. (Close by
//     out_trade_no still locks the code, as the real gateway does for a
//     trade it calls not existing.)
//   - ConflictThenNotFound: as ConfirmedThenNotFound, and a repeated
//     precreate answers ACQ.CONTEXT_INCONSISTENT whatever its details.
//   - UnsignedErrors: every refusal comes unsigned, and every third call is
//     applied and then answered by an unsigned error_response 20000
//     isp.unknow-error (a system error, which may hide a change).
//   - Error500AfterCommit: every second call is applied and then answered,
//     signed, 20000 isp.unknow-error "Service Currently Unavailable" (the
//     open platform's system-error code, "公共错误码").
package sandbox

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"posagent/gateway"
	"posagent/gateway/alipay"
	"posagent/gateway/faults"
	"posagent/gateway/sandboxkit"
)

// DefaultAppID is the app id the sandbox accepts when Options names none.
const DefaultAppID = "2021000000000001"

// Options configures a Server.
type Options struct {
	// AppID is the only app id accepted. Default DefaultAppID.
	AppID string
	// AppPublicKey verifies request signatures. AppPrivateKey is optional:
	// it is only handed out by ClientConfig. If both are nil the sandbox
	// uses a key pair generated once per process.
	AppPublicKey  *rsa.PublicKey
	AppPrivateKey *rsa.PrivateKey
	// AlipayKey signs answers; its public half is what the client must be
	// configured with. Default: a key generated once per process.
	AlipayKey *rsa.PrivateKey
	// OrderTTL closes unpaid trades after it. Default 240s.
	OrderTTL time.Duration
	// Now is the sandbox's clock. Default time.Now.
	Now func() time.Time
	// BaseURL is where the sandbox is reachable, for QR payloads
	// (<BaseURL>/qr/<code>). May be set later with SetBaseURL.
	BaseURL string
	// Logger gets one line per API call. Default: discard.
	Logger *slog.Logger
}

// Server is the sandbox gateway. It is an http.Handler and safe for
// concurrent use.
type Server struct {
	appID   string
	appPub  *rsa.PublicKey
	appPriv *rsa.PrivateKey
	aliKey  *rsa.PrivateKey
	ttl     time.Duration
	now     func() time.Time
	log     *slog.Logger
	kit     *sandboxkit.Kit

	mu      sync.Mutex
	orders  []*order
	byOut   map[string]*order
	byCode  map[string]*order
	byTrade map[string]*order
	seq     int
	calls   int // API calls, for UnsignedErrors
}

type state int

const (
	stateOpen   state = iota // precreated, maybe scanned, not paid
	statePaid                // paid (maybe refunded)
	stateClosed              // closed unpaid: by close, timeout or the payer
)

type order struct {
	outTradeNo string
	code       string // QR token
	tradeNo    string // assigned when scanned
	terminal   string
	subject    string
	amount     int64
	scanned    bool
	state      state
	created    time.Time
	expires    time.Time
	paidAt     time.Time
	refunded   int64
	refunds    map[string]int64 // out_request_no -> amount
	lastRefund time.Time
	charges    int
	creates    int
	latePayAt  time.Time // LatePayAfterCancel
}

var (
	keysOnce            sync.Once
	defApp, defAli      *rsa.PrivateKey
	errKeyGenerationBad error
)

// defaultKeys generates the app and Alipay key pairs once per process:
// RSA key generation costs tens to hundreds of milliseconds.
func defaultKeys() (app, ali *rsa.PrivateKey) {
	keysOnce.Do(func() {
		var err1, err2 error
		defApp, err1 = rsa.GenerateKey(rand.Reader, 2048)
		defAli, err2 = rsa.GenerateKey(rand.Reader, 2048)
		errKeyGenerationBad = errors.Join(err1, err2)
	})
	if errKeyGenerationBad != nil {
		panic("sandbox: generating RSA keys: " + errKeyGenerationBad.Error())
	}
	return defApp, defAli
}

// New returns a sandbox gateway.
func New(opts Options) *Server {
	s := &Server{
		appID:   opts.AppID,
		appPub:  opts.AppPublicKey,
		appPriv: opts.AppPrivateKey,
		aliKey:  opts.AlipayKey,
		ttl:     opts.OrderTTL,
		now:     opts.Now,
		log:     opts.Logger,
		byOut:   map[string]*order{},
		byCode:  map[string]*order{},
		byTrade: map[string]*order{},
	}
	if s.appID == "" {
		s.appID = DefaultAppID
	}
	if s.appPub == nil && s.appPriv != nil {
		s.appPub = &s.appPriv.PublicKey
	}
	if s.appPub == nil || s.aliKey == nil {
		app, ali := defaultKeys()
		if s.appPub == nil {
			s.appPriv, s.appPub = app, &app.PublicKey
		}
		if s.aliKey == nil {
			s.aliKey = ali
		}
	}
	if s.ttl <= 0 {
		s.ttl = 240 * time.Second
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.kit = sandboxkit.New(sandboxkit.Config{
		Name:        "Alipay",
		BaseURL:     opts.BaseURL,
		API:         http.HandlerFunc(s.serveAPI),
		IsAPI:       func(r *http.Request) bool { return r.URL.Path == "/gateway.do" },
		ServerError: s.serverError,
		Payer:       s,
		Actions:     map[string]func(string) error{"scan": s.Scan},
		Page:        s.page,
		Ledger:      s.Ledger,
		Logger:      s.log,
		Now:         s.now,
	})
	return s
}

// ServeHTTP serves the gateway API at /gateway.do and the control paths.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.kit.ServeHTTP(w, r) }

// Faults returns the fault injector wrapped around /gateway.do.
func (s *Server) Faults() *faults.Injector { return s.kit.Faults() }

// SetPersonalities replaces the gateway personalities in force (see the
// package documentation); also POST /sandbox/faults {"personalities": [...]}.
func (s *Server) SetPersonalities(ps ...sandboxkit.Personality) error {
	return s.kit.SetPersonalities(ps...)
}

// serverError is Error500AfterCommit's answer: the open platform's system
// error, signed, under the method's response key.
func (s *Server) serverError(w http.ResponseWriter, r *http.Request) {
	a := failure("20000", "Service Currently Unavailable", "isp.unknow-error", "系统繁忙")
	s.write(w, r.Form.Get("method"), r.Form.Get("sign_type"), a, true)
}

// SetBaseURL sets where QR payloads point (e.g. httptest.Server.URL).
func (s *Server) SetBaseURL(u string) {
	s.kit.SetBaseURL(u)
}

// AlipayPublicKey is the key the client must verify answers with.
func (s *Server) AlipayPublicKey() *rsa.PublicKey { return &s.aliKey.PublicKey }

// ClientConfig returns a client configuration this sandbox accepts, for a
// sandbox served at baseURL (e.g. httptest.Server.URL). The client shares
// the sandbox's clock so its timestamps pass the freshness check.
// AppPrivateKey is nil if the sandbox was given only the public key.
func (s *Server) ClientConfig(baseURL string) alipay.Config {
	return alipay.Config{
		BaseURL:         strings.TrimRight(baseURL, "/") + "/gateway.do",
		AppID:           s.appID,
		SignType:        alipay.SignRSA2,
		AppPrivateKey:   s.appPriv,
		AlipayPublicKey: &s.aliKey.PublicKey,
		Now:             s.now,
	}
}

// ---- payer side ----

// Pay simulates the payer scanning the code and paying. id is the
// out_trade_no, the QR code token or the trade_no. Paying a closed,
// expired or already paid trade fails: Charges never exceeds 1.
func (s *Server) Pay(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, err := s.find(id)
	if err != nil {
		return err
	}
	switch o.state {
	case statePaid:
		return fmt.Errorf("sandbox: trade %s is already paid: %w", o.outTradeNo, sandboxkit.ErrNotPayable)
	case stateClosed:
		return fmt.Errorf("sandbox: trade %s is closed; 支付失败，本笔交易已关闭: %w", o.outTradeNo, sandboxkit.ErrNotPayable)
	}
	s.payLocked(o, s.now())
	return nil
}

func (s *Server) payLocked(o *order, at time.Time) {
	s.scan(o)
	o.state = statePaid
	o.paidAt = at
	o.charges++
	s.log.Info("alipay sandbox: paid", "out_trade_no", o.outTradeNo, "trade_no", o.tradeNo, "amount_cents", o.amount)
}

// refusedCloseLocked notes a close that did not happen: with
// LatePayAfterCancel the payer pays half way to the trade's expiry.
func (s *Server) refusedCloseLocked(o *order) {
	if o.state == stateOpen && o.latePayAt.IsZero() && s.kit.Has(sandboxkit.LatePayAfterCancel) {
		o.latePayAt = sandboxkit.LatePayAt(s.now(), o.expires)
	}
}

// Scan simulates the payer scanning the code without paying yet: from now
// on query finds the trade (WAIT_BUYER_PAY).
func (s *Server) Scan(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, err := s.find(id)
	if err != nil {
		return err
	}
	if o.state == stateClosed {
		return fmt.Errorf("sandbox: trade %s is closed", o.outTradeNo)
	}
	s.scan(o)
	return nil
}

// Decline simulates the payer giving up: the trade closes unpaid.
func (s *Server) Decline(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, err := s.find(id)
	if err != nil {
		return err
	}
	switch o.state {
	case statePaid:
		return fmt.Errorf("sandbox: trade %s is paid, it cannot be declined: %w", o.outTradeNo, sandboxkit.ErrNotPayable)
	case stateClosed:
		return fmt.Errorf("sandbox: trade %s is already closed: %w", o.outTradeNo, sandboxkit.ErrNotPayable)
	}
	s.scan(o)
	o.state = stateClosed
	return nil
}

func (s *Server) scan(o *order) {
	if o.scanned {
		return
	}
	o.scanned = true
	s.seq++
	o.tradeNo = fmt.Sprintf("%s22001%015d", o.created.In(beijing).Format("20060102"), s.seq)
	s.byTrade[o.tradeNo] = o
}

// find resolves an id and applies timeouts. Callers hold s.mu.
func (s *Server) find(id string) (*order, error) {
	s.expire()
	if o := s.byOut[id]; o != nil {
		return o, nil
	}
	if o := s.byCode[id]; o != nil {
		return o, nil
	}
	if o := s.byTrade[id]; o != nil {
		return o, nil
	}
	return nil, fmt.Errorf("sandbox: no trade %q", id)
}

// expire closes open trades past their deadline, after the late payer of
// LatePayAfterCancel had its turn. Callers hold s.mu.
func (s *Server) expire() {
	now := s.now()
	for _, o := range s.orders {
		if o.state == stateOpen && !o.latePayAt.IsZero() && !now.Before(o.latePayAt) {
			s.payLocked(o, o.latePayAt)
		}
		if o.state == stateOpen && !now.Before(o.expires) {
			o.state = stateClosed
		}
	}
}

// Ledger returns every trade the sandbox knows, in creation order.
func (s *Server) Ledger() gateway.Ledger {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expire()
	l := gateway.Ledger{Orders: []gateway.LedgerEntry{}}
	for _, o := range s.orders {
		l.Orders = append(l.Orders, gateway.LedgerEntry{
			Terminal:      o.terminal,
			ClientSN:      o.outTradeNo,
			SN:            o.tradeNo,
			Status:        o.status(),
			AmountCents:   o.amount,
			RefundedCents: o.refunded,
			Charges:       o.charges,
			Creates:       o.creates,
		})
	}
	return l
}

func (o *order) status() gateway.Status {
	switch o.state {
	case statePaid:
		switch {
		case o.refunded == 0:
			return gateway.StatusPaid
		case o.refunded >= o.amount:
			return gateway.StatusRefunded
		}
		return gateway.StatusPartialRefunded
	case stateClosed:
		return gateway.StatusCanceled
	}
	return gateway.StatusCreated
}

// page is what a phone opening the QR payload sees (served by
// sandboxkit): opening it counts as scanning.
func (s *Server) page(code string) (sandboxkit.Page, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, err := s.find(code)
	if err != nil {
		return sandboxkit.Page{}, false
	}
	if o.state == stateOpen {
		s.scan(o)
	}
	return sandboxkit.Page{
		ID: code, Currency: "¥", Amount: yuan(o.amount), Subject: o.subject,
		Lines: []string{"out_trade_no " + o.outTradeNo}, Status: string(o.status()), Payable: o.state == stateOpen,
	}, true
}

// ---- gateway API ----

var beijing = time.FixedZone("CST", 8*60*60)

const timeLayout = "2006-01-02 15:04:05"

// answer is one *_response object, in field order.
type answer struct {
	keys []string
	vals []string
}

func (a *answer) set(k, v string) {
	if v == "" {
		return
	}
	a.keys = append(a.keys, k)
	a.vals = append(a.vals, v)
}

func success() *answer {
	a := &answer{}
	a.set("code", "10000")
	a.set("msg", "Success")
	return a
}

func failure(code, msg, sub, subMsg string) *answer {
	a := &answer{}
	a.set("code", code)
	a.set("msg", msg)
	a.set("sub_code", sub)
	a.set("sub_msg", subMsg)
	return a
}

func business(sub, subMsg string) *answer {
	return failure("40004", "Business Failed", sub, subMsg)
}

// encode writes the object the way Alipay's serializer does, "/" as "\/".
func (a *answer) encode() []byte {
	var b strings.Builder
	b.WriteByte('{')
	for i, k := range a.keys {
		if i > 0 {
			b.WriteByte(',')
		}
		kb, _ := json.Marshal(k)
		vb, _ := json.Marshal(a.vals[i])
		b.Write(kb)
		b.WriteByte(':')
		b.Write(vb)
	}
	b.WriteByte('}')
	return []byte(strings.ReplaceAll(b.String(), "/", `\/`))
}

var methods = map[string]bool{
	"alipay.trade.precreate": true,
	"alipay.trade.query":     true,
	"alipay.trade.close":     true,
	"alipay.trade.refund":    true,
}

func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost && r.Method != http.MethodGet {
		http.Error(w, "POST", http.StatusMethodNotAllowed)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form: "+err.Error(), http.StatusBadRequest)
		return
	}
	method := r.Form.Get("method")
	signType := r.Form.Get("sign_type")
	if signType != "RSA" {
		signType = "RSA2" // answers to requests with a bad sign_type are RSA2
	}
	a := s.handle(r, method)
	s.log.Debug("alipay sandbox: call", "method", method, "out_trade_no", outTradeNoOf(r), "code", a.vals[0])
	signed := true
	switch sub := a.get("sub_code"); {
	case sub == "isv.invalid-app-id", sub == "isv.invalid-method":
		signed, method = false, "" // error_response, unsigned: see the package doc
	case s.kit.Has(sandboxkit.UnsignedErrors) && a.get("code") != "10000":
		signed = false
	}
	if s.kit.Has(sandboxkit.UnsignedErrors) {
		s.mu.Lock()
		s.calls++
		third := s.calls%3 == 0
		s.mu.Unlock()
		if third {
			// Applied above; the answer is a system error, unsigned.
			a, signed = failure("20000", "Service Currently Unavailable", "isp.unknow-error", "系统繁忙"), false
			method = ""
		}
	}
	s.write(w, method, signType, a, signed)
}

// write sends a under the method's response key (error_response for an
// unknown method), signed or with an empty sign.
func (s *Server) write(w http.ResponseWriter, method, signType string, a *answer, signed bool) {
	key := "error_response"
	if methods[method] {
		key = strings.ReplaceAll(method, ".", "_") + "_response"
	}
	inner := a.encode()
	sig := ""
	if signed {
		sig = s.sign(signType, inner)
	}
	w.Header().Set("Content-Type", "text/html;charset=utf-8") // as the real gateway does
	fmt.Fprintf(w, `{"%s":%s,"sign":"%s"}`, key, inner, sig)
}

func (a *answer) get(k string) string {
	for i, kk := range a.keys {
		if kk == k {
			return a.vals[i]
		}
	}
	return ""
}

func outTradeNoOf(r *http.Request) string {
	var biz map[string]any
	json.Unmarshal([]byte(r.Form.Get("biz_content")), &biz)
	s, _ := biz["out_trade_no"].(string)
	return s
}

func (s *Server) sign(signType string, content []byte) string {
	h := crypto.SHA256
	var d []byte
	if signType == "RSA" {
		h = crypto.SHA1
		x := sha1.Sum(content)
		d = x[:]
	} else {
		x := sha256.Sum256(content)
		d = x[:]
	}
	sig, err := rsa.SignPKCS1v15(rand.Reader, s.aliKey, h, d)
	if err != nil {
		return ""
	}
	return base64.StdEncoding.EncodeToString(sig)
}

// handle checks the common parameters and the signature, then runs the
// method. It is written apart from the client: the sign string is rebuilt
// here from the form as received.
func (s *Server) handle(r *http.Request, method string) *answer {
	f := r.Form
	for _, p := range []string{"app_id", "method", "charset", "sign_type", "sign", "timestamp", "version"} {
		if f.Get(p) == "" {
			sub := "isv.missing-" + strings.ReplaceAll(p, "_", "-")
			if p == "sign" {
				sub = "isv.missing-signature"
			}
			return failure("40001", "Missing Required Arguments", sub, "缺少"+p+"参数")
		}
	}
	for k, vs := range f {
		if len(vs) > 1 {
			return failure("40002", "Invalid Arguments", "isv.invalid-parameter", "参数"+k+"重复")
		}
	}
	if !methods[method] || (method == "alipay.trade.close" && s.kit.Has(sandboxkit.NoCancel)) {
		if method == "alipay.trade.close" {
			s.noteAbsentClose(f.Get("biz_content"))
		}
		return failure("40002", "Invalid Arguments", "isv.invalid-method", "不存在的方法名")
	}
	if f.Get("app_id") != s.appID {
		return failure("40002", "Invalid Arguments", "isv.invalid-app-id", "无效的AppID参数")
	}
	if !strings.EqualFold(f.Get("charset"), "utf-8") {
		return failure("40002", "Invalid Arguments", "isv.invalid-charset", "字符集错误")
	}
	if f.Get("version") != "1.0" {
		return failure("40002", "Invalid Arguments", "isv.invalid-version", "版本号错误")
	}
	st := f.Get("sign_type")
	if st != "RSA2" && st != "RSA" {
		return failure("40002", "Invalid Arguments", "isv.invalid-signature-type", "无效的签名类型")
	}
	ts, err := time.ParseInLocation(timeLayout, f.Get("timestamp"), beijing)
	if err != nil || ts.Sub(s.now()).Abs() > 15*time.Minute {
		return failure("40002", "Invalid Arguments", "isv.invalid-timestamp", "非法的时间戳参数")
	}
	if !s.verify(st, f) {
		return failure("40002", "Invalid Arguments", "isv.invalid-signature", "验签出错")
	}
	var biz map[string]json.RawMessage
	if err := json.Unmarshal([]byte(f.Get("biz_content")), &biz); err != nil {
		return business("ACQ.INVALID_PARAMETER", "biz_content不是JSON对象")
	}
	p := map[string]string{}
	for k, v := range biz {
		var str string
		if err := json.Unmarshal(v, &str); err != nil {
			return business("ACQ.INVALID_PARAMETER", "参数"+k+"必须是字符串")
		}
		p[k] = str
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expire()
	switch method {
	case "alipay.trade.precreate":
		return s.precreate(p)
	case "alipay.trade.query":
		return s.query(p)
	case "alipay.trade.close":
		return s.closeTrade(p)
	}
	return s.refund(p)
}

// verify checks the request signature: all non-empty parameters but sign,
// sorted by name, name=value joined with "&", raw values.
func (s *Server) verify(signType string, f map[string][]string) bool {
	names := make([]string, 0, len(f))
	for k, vs := range f {
		if k != "sign" && len(vs) > 0 && vs[0] != "" {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, k := range names {
		parts[i] = k + "=" + f[k][0]
	}
	content := []byte(strings.Join(parts, "&"))
	sig, err := base64.StdEncoding.DecodeString(f["sign"][0])
	if err != nil {
		return false
	}
	if signType == "RSA" {
		d := sha1.Sum(content)
		return rsa.VerifyPKCS1v15(s.appPub, crypto.SHA1, d[:], sig) == nil
	}
	d := sha256.Sum256(content)
	return rsa.VerifyPKCS1v15(s.appPub, crypto.SHA256, d[:], sig) == nil
}

// yuan and cents are the sandbox's own amount codecs.
func yuan(c int64) string { return strconv.FormatInt(c/100, 10) + "." + fmt.Sprintf("%02d", c%100) }

func cents(s string) (int64, bool) {
	i := strings.IndexByte(s, '.')
	whole, frac := s, "00"
	if i >= 0 {
		whole, frac = s[:i], s[i+1:]
		if len(frac) == 1 {
			frac += "0"
		}
	}
	if whole == "" || len(whole) > 9 || len(frac) != 2 {
		return 0, false
	}
	w, err1 := strconv.ParseUint(whole, 10, 64)
	fr, err2 := strconv.ParseUint(frac, 10, 64)
	if err1 != nil || err2 != nil || whole[0] == '+' || frac[0] == '+' {
		return 0, false
	}
	return int64(w*100 + fr), true
}

func tooLong(v string, n int) bool { return len([]rune(v)) > n }

func (s *Server) precreate(p map[string]string) *answer {
	out := p["out_trade_no"]
	if out == "" || tooLong(out, 64) {
		return business("ACQ.INVALID_PARAMETER", "参数out_trade_no无效")
	}
	amt, ok := cents(p["total_amount"])
	if !ok || amt <= 0 || amt > 100_000_000_00 || len(p["total_amount"]) > 11 {
		return business("ACQ.INVALID_PARAMETER", "参数total_amount无效")
	}
	if p["subject"] == "" || tooLong(p["subject"], 256) || tooLong(p["body"], 128) {
		return business("ACQ.INVALID_PARAMETER", "参数subject或body无效")
	}
	ttl := s.ttl
	if te := p["timeout_express"]; te != "" {
		d, ok := timeoutExpress(te)
		if !ok {
			return business("ACQ.INVALID_PARAMETER", "参数timeout_express无效")
		}
		if d < ttl {
			ttl = d
		}
	}
	if o := s.byOut[out]; o != nil {
		o.creates++
		if o.amount != amt || o.subject != p["subject"] || s.kit.Has(sandboxkit.ConflictThenNotFound) {
			return business("ACQ.CONTEXT_INCONSISTENT", "交易信息被篡改")
		}
		switch o.state {
		case statePaid:
			return business("ACQ.TRADE_HAS_SUCCESS", "交易已被支付")
		case stateClosed:
			return business("ACQ.TRADE_HAS_CLOSE", "交易已经关闭")
		}
		return s.precreateAnswer(o)
	}
	now := s.now()
	tok := make([]byte, 10)
	rand.Read(tok)
	o := &order{
		outTradeNo: out,
		code:       "bax" + hex.EncodeToString(tok),
		terminal:   p["terminal_id"],
		subject:    p["subject"],
		amount:     amt,
		created:    now,
		expires:    now.Add(ttl),
		refunds:    map[string]int64{},
		creates:    1,
	}
	if o.terminal == "" {
		o.terminal = s.appID
	}
	s.orders = append(s.orders, o)
	s.byOut[out] = o
	s.byCode[o.code] = o
	return s.precreateAnswer(o)
}

func (s *Server) precreateAnswer(o *order) *answer {
	base := s.kit.BaseURL(nil, "http://alipay-sandbox.invalid")
	a := success()
	a.set("out_trade_no", o.outTradeNo)
	a.set("qr_code", base+"/qr/"+o.code)
	return a
}

// timeoutExpress reads 1m..15d ("90m", "2h", "1d", "1c" = end of day).
func timeoutExpress(v string) (time.Duration, bool) {
	if v == "1c" {
		return 24 * time.Hour, true
	}
	if len(v) < 2 || len(v) > 6 {
		return 0, false
	}
	n, err := strconv.Atoi(v[:len(v)-1])
	if err != nil || n < 1 || v[0] == '+' || v[0] == '-' {
		return 0, false
	}
	unit := map[byte]time.Duration{'m': time.Minute, 'h': time.Hour, 'd': 24 * time.Hour}[v[len(v)-1]]
	d := time.Duration(n) * unit
	if unit == 0 || d > 15*24*time.Hour {
		return 0, false
	}
	return d, true
}

func (s *Server) lookup(p map[string]string) *order {
	if t := p["trade_no"]; t != "" {
		return s.byTrade[t]
	}
	o := s.byOut[p["out_trade_no"]]
	if o != nil && o.state == stateOpen && s.kit.ClientLookupBlind() {
		// Blind while the trade is open only: the precreate answer
		// carries no trade_no, so a trade never found by out_trade_no
		// could never be found at all (see the package doc).
		return nil
	}
	return o
}

// noteAbsentClose: a close sent to a gateway without it leaves the trade
// open; LatePayAfterCancel's payer may pay it later.
func (s *Server) noteAbsentClose(biz string) {
	var p map[string]string
	json.Unmarshal([]byte(biz), &p)
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.byTrade[p["trade_no"]]
	if o == nil {
		o = s.byOut[p["out_trade_no"]]
	}
	if o != nil {
		s.refusedCloseLocked(o)
	}
}

func (s *Server) query(p map[string]string) *answer {
	o := s.lookup(p)
	if o == nil || !o.scanned {
		return business("ACQ.TRADE_NOT_EXIST", "交易不存在")
	}
	a := success()
	a.set("trade_no", o.tradeNo)
	a.set("out_trade_no", o.outTradeNo)
	a.set("buyer_logon_id", "159****5620")
	var ts string
	switch {
	case o.state == stateOpen:
		ts = "WAIT_BUYER_PAY"
	case o.state == statePaid && o.refunded < o.amount:
		ts = "TRADE_SUCCESS"
	default:
		ts = "TRADE_CLOSED"
	}
	a.set("trade_status", ts)
	a.set("total_amount", yuan(o.amount))
	if o.state == statePaid {
		a.set("buyer_pay_amount", yuan(o.amount))
		a.set("receipt_amount", yuan(o.amount))
		a.set("send_pay_date", o.paidAt.In(beijing).Format(timeLayout))
		a.set("buyer_user_id", "2088101117955611")
	}
	return a
}

func (s *Server) closeTrade(p map[string]string) *answer {
	o := s.byTrade[p["trade_no"]]
	if p["trade_no"] == "" {
		o = s.byOut[p["out_trade_no"]]
	}
	if o != nil && o.state == stateOpen && s.kit.Has(sandboxkit.CancelRefused) {
		s.refusedCloseLocked(o)
		return business("ACQ.TRADE_STATUS_ERROR", "交易状态不合法")
	}
	if o != nil && o.state == stateOpen && p["trade_no"] == "" && s.kit.ClientLookupBlind() {
		// Not found for the terminal, yet the code is locked, as for
		// an unscanned trade below.
		o.state = stateClosed
		return business("ACQ.TRADE_NOT_EXIST", "交易不存在")
	}
	if o == nil {
		return business("ACQ.TRADE_NOT_EXIST", "交易不存在")
	}
	if !o.scanned {
		// As observed on the real gateway: "not exist", yet the code is
		// locked and can no longer be paid.
		if o.state == stateOpen {
			o.state = stateClosed
		}
		return business("ACQ.TRADE_NOT_EXIST", "交易不存在")
	}
	if o.state != stateOpen {
		return business("ACQ.TRADE_STATUS_ERROR", "交易状态不合法")
	}
	o.state = stateClosed
	a := success()
	a.set("trade_no", o.tradeNo)
	a.set("out_trade_no", o.outTradeNo)
	return a
}

func (s *Server) refund(p map[string]string) *answer {
	o := s.lookup(p)
	if o == nil || !o.scanned {
		return business("ACQ.TRADE_NOT_EXIST", "交易不存在")
	}
	amt, ok := cents(p["refund_amount"])
	if !ok || amt <= 0 || len(p["refund_amount"]) > 11 {
		return business("ACQ.INVALID_PARAMETER", "参数refund_amount无效")
	}
	if tooLong(p["out_request_no"], 64) || tooLong(p["operator_id"], 30) || tooLong(p["refund_reason"], 256) {
		return business("ACQ.INVALID_PARAMETER", "参数无效")
	}
	if o.state != statePaid {
		return business("ACQ.TRADE_STATUS_ERROR", "交易状态不合法")
	}
	reqNo := p["out_request_no"]
	if reqNo == "" {
		reqNo = o.outTradeNo
		if amt != o.amount {
			return business("ACQ.REFUND_AMT_NOT_EQUAL_TOTAL", "撤销或退款金额与订单金额不一致")
		}
	}
	fundChange := "N"
	if prev, seen := o.refunds[reqNo]; seen {
		if prev != amt {
			return business("ACQ.DISCORDANT_REPEAT_REQUEST", "不一致的请求")
		}
	} else {
		if amt > o.amount-o.refunded {
			return business("ACQ.REASON_TRADE_REFUND_FEE_ERR", "退款金额无效")
		}
		o.refunds[reqNo] = amt
		o.refunded += amt
		o.lastRefund = s.now()
		fundChange = "Y"
	}
	a := success()
	a.set("trade_no", o.tradeNo)
	a.set("out_trade_no", o.outTradeNo)
	a.set("buyer_logon_id", "159****5620")
	a.set("fund_change", fundChange)
	a.set("refund_fee", yuan(o.refunded))
	a.set("gmt_refund_pay", o.lastRefund.In(beijing).Format(timeLayout))
	a.set("buyer_user_id", "2088101117955611")
	return a
}
