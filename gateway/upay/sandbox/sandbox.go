// Package sandbox is a Upay v2 gateway that runs on the terminal's own
// machine: it activates terminals, rotates keys on check-in, keeps orders,
// lets a simulated payer pay them, and cancels unpaid ones after a TTL. It
// checks every signature the way the real gateway does, so a client that
// passes here signs correctly, and it is strict about field formats, so a
// client that validates loosely is caught.
//
// It is written from the protocol description (upay-v2.md and the seeds),
// not from the client in ../, so the two check each other.
//
// Besides the API it serves, under /sandbox/ (the shared parts come from
// posagent/gateway/sandboxkit):
//
//	GET  /sandbox/ledger               every order, for comparison with the terminal's records
//	POST /sandbox/orders/{id}/pay      the payer pays (id = sn or client_sn)
//	POST /sandbox/orders/{id}/decline  the payer's payment fails
//	GET|POST /sandbox/faults           fault injection (posagent/gateway/faults) and personalities
//	GET  /sandbox/uploads              the logs received at /terminal/uploadLog, as JSON
//	GET  /qr/{sn}                      the page a QR code points at, with Pay and Decline buttons
//
// Personalities (sandboxkit.Personality), as Upay would show them:
//
//   - NoCancel: /upay/v2/cancel is not served; it answers HTTP 404 like any
//     path the gateway does not have (net/http's default answer; Upay's
//     docs say nothing about unknown paths).
//   - CancelRefused: cancel of an order still CREATED answers FAIL with
//     UPAY_CANCEL_INVALID_ORDER_STATE (a documented business error code,
//     upay-v2.md) and the order stays payable.
//   - LatePayAfterCancel: after a refused or absent cancel, the payer pays
//     half way between the cancel and the order's expiry (OrderTTL: Upay
//     cancels an unpaid order itself after about 4 minutes, upay-v2.md).
//   - ConfirmedThenNotFound: query, cancel and refund by client_sn answer
//     UPAY_ORDER_NOT_EXISTS even for orders it created; by sn they work
//     ("sn or client_sn (sn wins if both)", upay-v2.md).
//   - ConflictThenNotFound: as ConfirmedThenNotFound, and a repeated
//     precreate answers CLIENT_SN_CONFLICT whatever its details.
//   - UnsignedErrors: nothing to do; Upay answers are not signed.
//   - Error500AfterCommit: every second call is applied, then answered with
//     outer result_code "500" UNKNOWN_SYSTEM_ERROR (upay-v2.md, "Response
//     envelope": a server error that promises nothing).
package sandbox

import (
	"bytes"
	"compress/gzip"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"posagent/gateway"
	"posagent/gateway/faults"
	"posagent/gateway/sandboxkit"
	"posagent/gateway/upay"
)

// Options configures a Server.
type Options struct {
	VendorSN  string // default "91800001"
	VendorKey string // default "sandbox-vendor-key"
	AppID     string // accepted app_id; empty accepts any
	// ActivationCodes maps codes to how many times each may be used.
	// Default {"12345678": 1}.
	ActivationCodes map[string]int
	// OrderTTL is how long a precreated order stays payable. Default 240s.
	OrderTTL time.Duration
	// Now is the clock for TTLs and timestamps. Default time.Now.
	Now func() time.Time
	// BaseURL is where this server is reachable, for qr_code URLs; it can
	// also be set after listening with SetBaseURL.
	BaseURL string
	// LedgerPath, if set, gets the ledger as JSON after every change.
	LedgerPath string
	Logger     *slog.Logger
}

// Server is the sandbox gateway. It is an http.Handler.
type Server struct {
	opts Options
	kit  *sandboxkit.Kit

	mu        sync.Mutex
	codes     map[string]int
	terminals map[string]*terminal // by terminal_sn
	orders    map[string]*order    // by sn
	byClient  map[string]*order    // by terminal_sn + "/" + client_sn
	seq       int64
	uploads   []Upload
}

// Upload is one log received at /terminal/uploadLog.
type Upload struct {
	Terminal string `json:"terminal"`
	Gzip     []byte `json:"gzip"` // the body as received: gzip bytes of the log
}

type terminal struct {
	sn, key, prevKey, deviceID string
	checkins                   int
	signedWith                 string // the key that signed the request being served (under s.mu)
}

type order struct {
	terminal, sn, clientSN, subject, operator, payway, subPayway, tradeNo string
	amount, refunded                                                      int64
	status                                                                gateway.Status
	txStatus                                                              string
	created, finished                                                     time.Time
	refunds                                                               map[string]int64
	charges, creates                                                      int
	latePayAt                                                             time.Time // LatePayAfterCancel: when the payer pays anyway
}

// New returns a sandbox with opts.
func New(opts Options) *Server {
	if opts.VendorSN == "" {
		opts.VendorSN = "91800001"
	}
	if opts.VendorKey == "" {
		opts.VendorKey = "sandbox-vendor-key"
	}
	if opts.ActivationCodes == nil {
		opts.ActivationCodes = map[string]int{"12345678": 1}
	}
	if opts.OrderTTL <= 0 {
		opts.OrderTTL = 240 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		opts:      opts,
		codes:     map[string]int{},
		terminals: map[string]*terminal{},
		orders:    map[string]*order{},
		byClient:  map[string]*order{},
		seq:       1_000_000,
	}
	for c, n := range opts.ActivationCodes {
		s.codes[c] = n
	}
	api := http.NewServeMux()
	api.HandleFunc("POST "+upay.PathActivate, s.activate)
	api.HandleFunc("POST "+upay.PathCheckin, s.terminalCall(s.checkin))
	api.HandleFunc("POST "+upay.PathPrecreate, s.terminalCall(s.precreate))
	api.HandleFunc("POST "+upay.PathQuery, s.terminalCall(s.query))
	api.HandleFunc("POST "+upay.PathCancel, s.terminalCall(s.cancel))
	api.HandleFunc("POST "+upay.PathRevoke, s.terminalCall(s.revoke))
	api.HandleFunc("POST "+upay.PathRefund, s.terminalCall(s.refund))
	api.HandleFunc("POST "+upay.PathUploadLog, s.uploadLog)
	s.kit = sandboxkit.New(sandboxkit.Config{
		Name: "Upay", API: api, Payer: s, Page: s.page, Ledger: s.Ledger, Logger: opts.Logger, Now: opts.Now,
		BaseURL: opts.BaseURL,
		ServerError: func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, envelope{ResultCode: "500", ErrorCode: "UNKNOWN_SYSTEM_ERROR", ErrorMessage: "系统错误 (system error)"})
		},
	})
	s.kit.Handle("GET /sandbox/uploads", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]any{"uploads": s.Uploads()})
	}))
	return s
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.kit.ServeHTTP(w, r) }

// Faults returns the fault injector in front of the API.
func (s *Server) Faults() *faults.Injector { return s.kit.Faults() }

// SetPersonalities replaces the gateway personalities in force (see the
// package documentation); also POST /sandbox/faults {"personalities": [...]}.
func (s *Server) SetPersonalities(ps ...sandboxkit.Personality) error {
	return s.kit.SetPersonalities(ps...)
}

// Uploads returns the logs received at /terminal/uploadLog, oldest first.
func (s *Server) Uploads() []Upload {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Upload(nil), s.uploads...)
}

// SetBaseURL sets where the server is reachable, for qr_code URLs.
func (s *Server) SetBaseURL(u string) {
	s.kit.SetBaseURL(u)
}

// ClientConfig returns a client configuration with the vendor credentials
// this sandbox accepts; the terminal pair comes from activation.
func (s *Server) ClientConfig(baseURL string) upay.Config {
	return upay.Config{BaseURL: baseURL, VendorSN: s.opts.VendorSN, VendorKey: s.opts.VendorKey}
}

// AddActivationCode makes code usable n more times.
func (s *Server) AddActivationCode(code string, n int) {
	s.mu.Lock()
	s.codes[code] += n
	s.mu.Unlock()
}

// Responses.

type envelope struct {
	ResultCode   string `json:"result_code"`
	ErrorCode    string `json:"error_code,omitempty"`
	ErrorMessage string `json:"error_message,omitempty"`
	BizResponse  any    `json:"biz_response,omitempty"`
}

type biz struct {
	ResultCode   string     `json:"result_code"`
	ErrorCode    string     `json:"error_code,omitempty"`
	ErrorMessage string     `json:"error_message,omitempty"`
	Data         *orderJSON `json:"data,omitempty"`
}

type orderJSON struct {
	SN           string `json:"sn"`
	ClientSN     string `json:"client_sn"`
	TerminalSN   string `json:"terminal_sn"`
	TradeNo      string `json:"trade_no,omitempty"`
	Status       string `json:"status"`
	OrderStatus  string `json:"order_status"`
	Payway       string `json:"payway"`
	PaywayName   string `json:"payway_name"`
	SubPayway    string `json:"sub_payway"`
	QRCode       string `json:"qr_code,omitempty"`
	TotalAmount  string `json:"total_amount"`
	NetAmount    string `json:"net_amount"`
	Subject      string `json:"subject"`
	Operator     string `json:"operator"`
	FinishTime   string `json:"finish_time,omitempty"`
	RefundAmount string `json:"refund_amount,omitempty"`
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	json.NewEncoder(w).Encode(v)
}

// outer writes a request-level error: HTTP 200 with result_code 400, as
// the real gateway does.
func outer(w http.ResponseWriter, code, msg string) {
	writeJSON(w, envelope{ResultCode: "400", ErrorCode: code, ErrorMessage: msg})
}

func ok(w http.ResponseWriter, b any) { writeJSON(w, envelope{ResultCode: "200", BizResponse: b}) }

// Request reading and signature checks.

const maxBody = 64 << 10

// readSigned reads the body and the Authorization header; it reports the
// problem to the client itself and returns ok=false on any error.
func readSigned(w http.ResponseWriter, r *http.Request) (sn, sign string, body []byte, good bool) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		outer(w, "INVALID_PARAMS", "cannot read body")
		return
	}
	if len(body) > maxBody {
		outer(w, "INVALID_PARAMS", "body too large")
		return
	}
	parts := strings.Split(r.Header.Get("Authorization"), " ")
	if len(parts) != 2 || parts[0] == "" || parts[1] == "" {
		outer(w, "ILLEGAL_SIGN", "Authorization must be \"<sn> <sign>\"")
		return
	}
	return parts[0], parts[1], body, true
}

// signOK checks sign against md5(body+key) in either hex case. It is
// computed here independently of the client's upay.Sign.
func signOK(body []byte, key, sign string) bool {
	if key == "" {
		return false
	}
	sum := md5.Sum(append(append([]byte{}, body...), key...))
	return strings.EqualFold(hex.EncodeToString(sum[:]), sign)
}

// fields decodes a JSON object whose known fields must be strings (or, for
// the listed structured ones, what they are). A bad format is INVALID_PARAMS.
func fields(body []byte) (map[string]json.RawMessage, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, fmt.Errorf("body is not a JSON object: %v", err)
	}
	return m, nil
}

func str(m map[string]json.RawMessage, name string, max int, required bool) (string, error) {
	raw, ok := m[name]
	if !ok || string(raw) == "null" {
		if required {
			return "", fmt.Errorf("%s is required", name)
		}
		return "", nil
	}
	var v string
	if err := json.Unmarshal(raw, &v); err != nil {
		return "", fmt.Errorf("%s must be a string", name)
	}
	if required && v == "" {
		return "", fmt.Errorf("%s is required", name)
	}
	if utf8.RuneCountInString(v) > max {
		return "", fmt.Errorf("%s longer than %d", name, max)
	}
	return v, nil
}

func amount(m map[string]json.RawMessage, name string) (int64, error) {
	v, err := str(m, name, 10, true)
	if err != nil {
		return 0, err
	}
	for _, r := range v {
		if r < '0' || r > '9' {
			return 0, fmt.Errorf("%s must be a number string of cents", name)
		}
	}
	n, _ := strconv.ParseInt(v, 10, 64)
	if n <= 0 {
		return 0, fmt.Errorf("%s must be more than 0", name)
	}
	return n, nil
}

func randomKey() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Terminal lifecycle.

// activate: signed with the vendor pair, fields of upay-v2.md "Terminal
// lifecycle"; a code has a usage count (upay-v2.md line 44, field-notes.md
// line 18: "default to 1 use") and each use yields a new terminal.
func (s *Server) activate(w http.ResponseWriter, r *http.Request) {
	sn, sign, body, good := readSigned(w, r)
	if !good {
		return
	}
	if sn != s.opts.VendorSN || !signOK(body, s.opts.VendorKey, sign) {
		outer(w, "ILLEGAL_SIGN", "签名错误 (vendor signature does not verify)")
		return
	}
	m, err := fields(body)
	var appID, code, deviceID string
	if err == nil {
		appID, err = str(m, "app_id", 64, true)
	}
	if err == nil {
		code, err = str(m, "code", 32, true)
	}
	if err == nil {
		deviceID, err = str(m, "device_id", 32, true)
	}
	for _, f := range []struct {
		n string
		l int
	}{{"client_sn", 32}, {"name", 64}, {"os_info", 64}} {
		if err == nil {
			_, err = str(m, f.n, f.l, false)
		}
	}
	if err != nil {
		outer(w, "INVALID_PARAMS", err.Error())
		return
	}
	if s.opts.AppID != "" && appID != s.opts.AppID {
		outer(w, "INVALID_PARAMS", "app_id "+appID+" is not known")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	left, known := s.codes[code]
	switch {
	case !known:
		outer(w, "INVALID_PARAMS", "激活码无效 (activation code not valid)")
		return
	case left <= 0:
		outer(w, "INVALID_PARAMS", "激活码已用完 (activation code already used)")
		return
	}
	s.codes[code] = left - 1
	s.seq++
	t := &terminal{sn: fmt.Sprintf("100%013d", s.seq), key: randomKey(), deviceID: deviceID}
	s.terminals[t.sn] = t
	s.opts.Logger.Info("sandbox: terminal activated", "terminal_sn", t.sn, "device_id", deviceID)
	ok(w, map[string]string{"terminal_sn": t.sn, "terminal_key": t.key})
}

// authTerminal checks the terminal signature; it returns the terminal and
// which key signed, or reports the error. The current and the previous key
// are valid (upay-v2.md line 47); a bad one is ILLEGAL_SIGN (line 18).
func (s *Server) authTerminal(w http.ResponseWriter, sn, sign string, body []byte) (*terminal, string, bool) {
	t := s.terminals[sn]
	if t == nil {
		outer(w, "INVALID_TERMINAL", "终端不存在 (terminal "+sn+" does not exist)")
		return nil, "", false
	}
	switch {
	case signOK(body, t.key, sign):
		return t, t.key, true
	case signOK(body, t.prevKey, sign):
		return t, t.prevKey, true
	}
	outer(w, "ILLEGAL_SIGN", "签名错误 (signature does not verify with the current or previous key)")
	return nil, "", false
}

// checkin runs inside terminalCall, which has checked the signature and
// that terminal_sn names the signer.
func (s *Server) checkin(w http.ResponseWriter, t *terminal, m map[string]json.RawMessage, _ time.Time) {
	deviceID, err := str(m, "device_id", 32, true)
	if err == nil {
		_, err = str(m, "os_info", 64, false)
	}
	if err == nil {
		_, err = str(m, "sdk_version", 32, false)
	}
	if err != nil {
		outer(w, "INVALID_PARAMS", err.Error())
		return
	}
	if deviceID != t.deviceID {
		outer(w, "INVALID_TERMINAL", "device_id does not match the activated device")
		return
	}
	// The key that signed this request is one the terminal demonstrably
	// holds: it stays valid as the previous key, so that a lost answer to
	// this check-in can be recovered by checking in with it again.
	t.prevKey = t.signedWith
	t.key = randomKey()
	t.checkins++
	ok(w, map[string]string{"terminal_sn": t.sn, "terminal_key": t.key})
}

// Transactions.

type txHandler func(w http.ResponseWriter, t *terminal, m map[string]json.RawMessage, now time.Time)

func (s *Server) terminalCall(h txHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sn, sign, body, good := readSigned(w, r)
		if !good {
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		t, signedWith, good := s.authTerminal(w, sn, sign, body)
		if !good {
			return
		}
		t.signedWith = signedWith
		m, err := fields(body)
		var tsn string
		if err == nil {
			tsn, err = str(m, "terminal_sn", 32, true)
		}
		if err != nil {
			outer(w, "INVALID_PARAMS", err.Error())
			return
		}
		if tsn != sn {
			outer(w, "INVALID_TERMINAL", "terminal_sn does not match the signer")
			return
		}
		now := s.opts.Now()
		s.expireLocked(now)
		h(w, t, m, now)
		s.saveLedgerLocked()
	}
}

var paywayNames = map[string]string{"1": "支付宝", "2": "支付宝", "3": "微信", "4": "百度钱包", "5": "京东钱包",
	"7": "NFC", "8": "拉卡拉钱包", "15": "拉卡拉微信", "16": "招商银行", "17": "银联云闪付", "18": "翼支付"}

// precreate checks the seeds' field limits (seeds 000 and 001; upay-v2.md
// "Precreate field limits"). A repeated client_sn with the same amount on
// an open order answers the same order; anything else is CLIENT_SN_CONFLICT
// (upay-v2.md line 62).
func (s *Server) precreate(w http.ResponseWriter, t *terminal, m map[string]json.RawMessage, now time.Time) {
	var p struct {
		clientSN, subject, operator, payway, subPayway string
		amount                                         int64
	}
	var err error
	check := func(f func() error) {
		if err == nil {
			err = f()
		}
	}
	check(func() (e error) { p.clientSN, e = str(m, "client_sn", 32, true); return })
	check(func() (e error) { p.amount, e = amount(m, "total_amount"); return })
	check(func() (e error) { p.payway, e = str(m, "payway", 2, true); return })
	check(func() (e error) { p.subPayway, e = str(m, "sub_payway", 2, false); return })
	check(func() (e error) { p.subject, e = str(m, "subject", 64, true); return })
	check(func() (e error) { p.operator, e = str(m, "operator", 32, true); return })
	for _, f := range []struct {
		n string
		l int
	}{{"payer_uid", 64}, {"description", 255}, {"device_id", 32}, {"reflect", 64}, {"notify_url", 128}, {"longitude", 32}, {"latitude", 32}} {
		check(func() (e error) { _, e = str(m, f.n, f.l, false); return })
	}
	check(func() error {
		if (m["longitude"] == nil) != (m["latitude"] == nil) {
			return errors.New("longitude and latitude go together")
		}
		return nil
	})
	check(func() error {
		raw, ok := m["extended"]
		if !ok {
			return nil
		}
		var ext map[string]string
		if json.Unmarshal(raw, &ext) != nil {
			return errors.New("extended must be an object of strings")
		}
		if len(ext) > 24 {
			return errors.New("extended has more than 24 keys")
		}
		for k, v := range ext {
			if utf8.RuneCountInString(k) > 64 || utf8.RuneCountInString(v) > 256 {
				return errors.New("extended key or value too long")
			}
		}
		return nil
	})
	check(func() error {
		raw, ok := m["goods_details"]
		if !ok {
			return nil
		}
		var goods []struct {
			GoodsID       *string `json:"goods_id"`
			GoodsName     *string `json:"goods_name"`
			Quantity      *int64  `json:"quantity"`
			Price         *int64  `json:"price"`
			PromotionType *int    `json:"promotion_type"`
		}
		if json.Unmarshal(raw, &goods) != nil {
			return errors.New("goods_details must be an array of goods")
		}
		for _, g := range goods {
			if g.GoodsID == nil || g.GoodsName == nil || g.Quantity == nil || g.Price == nil || g.PromotionType == nil ||
				utf8.RuneCountInString(*g.GoodsID) > 32 || utf8.RuneCountInString(*g.GoodsName) > 32 ||
				(*g.PromotionType != 0 && *g.PromotionType != 1) {
				return errors.New("goods_details entry malformed")
			}
		}
		return nil
	})
	if err != nil {
		outer(w, "INVALID_PARAMS", err.Error())
		return
	}
	name, known := paywayNames[p.payway]
	if !known {
		ok(w, biz{ResultCode: "PRECREATE_FAIL", ErrorCode: "UNEXPECTED_PROVIDER_ERROR", ErrorMessage: "不认识的支付通道"})
		return
	}
	key := t.sn + "/" + p.clientSN
	if o := s.byClient[key]; o != nil {
		o.creates++
		if o.amount != p.amount || o.status != gateway.StatusCreated || s.kit.Has(sandboxkit.ConflictThenNotFound) {
			ok(w, biz{ResultCode: "PRECREATE_FAIL", ErrorCode: "CLIENT_SN_CONFLICT", ErrorMessage: "client_sn 重复 (client_sn already used)"})
			return
		}
		ok(w, biz{ResultCode: "PRECREATE_SUCCESS", Data: s.orderJSON(o)})
		return
	}
	s.seq++
	o := &order{
		terminal: t.sn, sn: fmt.Sprintf("789%013d", s.seq), clientSN: p.clientSN, subject: p.subject,
		operator: p.operator, payway: p.payway, subPayway: p.subPayway, amount: p.amount,
		status: gateway.StatusCreated, txStatus: "IN_PROG", created: now, refunds: map[string]int64{}, creates: 1,
	}
	_ = name
	s.orders[o.sn] = o
	s.byClient[key] = o
	ok(w, biz{ResultCode: "PRECREATE_SUCCESS", Data: s.orderJSON(o)})
}

func (s *Server) orderJSON(o *order) *orderJSON {
	j := &orderJSON{
		SN: o.sn, ClientSN: o.clientSN, TerminalSN: o.terminal, TradeNo: o.tradeNo, Status: o.txStatus,
		OrderStatus: string(o.status), Payway: o.payway, PaywayName: paywayNames[o.payway], SubPayway: o.subPayway,
		TotalAmount: strconv.FormatInt(o.amount, 10), NetAmount: strconv.FormatInt(o.amount-o.refunded, 10),
		Subject: o.subject, Operator: o.operator,
	}
	if o.status == gateway.StatusCreated {
		j.QRCode = s.kit.BaseURL(nil, "") + "/qr/" + o.sn
	}
	if !o.finished.IsZero() {
		j.FinishTime = strconv.FormatInt(o.finished.UnixMilli(), 10)
	}
	if o.refunded > 0 {
		j.RefundAmount = strconv.FormatInt(o.refunded, 10)
	}
	return j
}

// find resolves sn or client_sn ("sn wins if both", upay-v2.md line 56)
// for terminal t; none is UPAY_ORDER_NOT_EXISTS (line 83).
func (s *Server) find(w http.ResponseWriter, t *terminal, m map[string]json.RawMessage, failCode string) *order {
	sn, err := str(m, "sn", 16, false)
	var clientSN string
	if err == nil {
		clientSN, err = str(m, "client_sn", 32, false)
	}
	if err == nil && sn == "" && clientSN == "" {
		err = errors.New("sn or client_sn is required")
	}
	if err != nil {
		outer(w, "INVALID_PARAMS", err.Error())
		return nil
	}
	var o *order
	if sn != "" {
		if x := s.orders[sn]; x != nil && x.terminal == t.sn {
			o = x
		}
	} else if !s.kit.ClientLookupBlind() {
		o = s.byClient[t.sn+"/"+clientSN]
	}
	if o == nil {
		ok(w, biz{ResultCode: failCode, ErrorCode: "UPAY_ORDER_NOT_EXISTS", ErrorMessage: "订单不存在 (order does not exist)"})
	}
	return o
}

func (s *Server) query(w http.ResponseWriter, t *terminal, m map[string]json.RawMessage, now time.Time) {
	if _, err := str(m, "refund_request_no", 20, false); err != nil {
		outer(w, "INVALID_PARAMS", err.Error())
		return
	}
	if o := s.find(w, t, m, "FAIL"); o != nil {
		ok(w, biz{ResultCode: "SUCCESS", Data: s.orderJSON(o)})
	}
}

// cancel reverses an order that is not final (upay-v2.md line 57); a paid
// one is refused with UPAY_CANCEL_INVALID_ORDER_STATE (a documented code,
// line 86) and stays paid; cancelling a cancelled order again succeeds
// (field-notes.md line 14: CANCEL_SUCCESS ends it).
func (s *Server) cancel(w http.ResponseWriter, t *terminal, m map[string]json.RawMessage, now time.Time) {
	if s.kit.Has(sandboxkit.NoCancel) {
		// No such path: nothing is parsed or applied. The payer may
		// still pay later (LatePayAfterCancel).
		if o := s.findQuiet(t, m); o != nil && o.status == gateway.StatusCreated {
			s.refusedCancelLocked(o, now)
		}
		http.NotFound(w, nil)
		return
	}
	o := s.find(w, t, m, "FAIL")
	if o == nil {
		return
	}
	switch o.status {
	case gateway.StatusCreated:
		if s.kit.Has(sandboxkit.CancelRefused) {
			s.refusedCancelLocked(o, now)
			ok(w, biz{ResultCode: "FAIL", ErrorCode: "UPAY_CANCEL_INVALID_ORDER_STATE", ErrorMessage: "订单状态不允许撤单 (cancel refused)"})
			return
		}
		o.status, o.txStatus, o.finished = gateway.StatusCanceled, "SUCCESS", now
		ok(w, biz{ResultCode: "CANCEL_SUCCESS", Data: s.orderJSON(o)})
	case gateway.StatusCanceled, gateway.StatusPayCanceled:
		// Cancelling twice is harmless; a retried cancel must not fail.
		ok(w, biz{ResultCode: "CANCEL_SUCCESS", Data: s.orderJSON(o)})
	default:
		// Paid meanwhile: the payment stands (a cancel never refunds here;
		// that is what revoke and refund are for).
		ok(w, biz{ResultCode: "FAIL", ErrorCode: "UPAY_CANCEL_INVALID_ORDER_STATE", ErrorMessage: "订单状态不允许撤单 (order is " + string(o.status) + ")"})
	}
}

// revoke: "same-day full refund of a paid order" (upay-v2.md line 58).
func (s *Server) revoke(w http.ResponseWriter, t *terminal, m map[string]json.RawMessage, now time.Time) {
	o := s.find(w, t, m, "FAIL")
	if o == nil {
		return
	}
	y1, m1, d1 := o.finished.Date()
	y2, m2, d2 := now.Date()
	switch {
	case o.status == gateway.StatusRefunded:
		ok(w, biz{ResultCode: "CANCEL_SUCCESS", Data: s.orderJSON(o)})
	case o.status != gateway.StatusPaid:
		ok(w, biz{ResultCode: "FAIL", ErrorCode: "UPAY_CANCEL_INVALID_ORDER_STATE", ErrorMessage: "only a paid order can be revoked"})
	case y1 != y2 || m1 != m2 || d1 != d2:
		ok(w, biz{ResultCode: "FAIL", ErrorCode: "UPAY_CANCEL_INVALID_ORDER_STATE", ErrorMessage: "revoke is for the day of payment; use refund"})
	default:
		o.refunded = o.amount
		o.status = gateway.StatusRefunded
		ok(w, biz{ResultCode: "CANCEL_SUCCESS", Data: s.orderJSON(o)})
	}
}

// refund: refund_request_no is the idempotency key, partial refunds sum
// to at most the total (upay-v2.md line 59); more is
// REFUNDABLE_AMOUNT_NOT_ENOUGH (line 84).
func (s *Server) refund(w http.ResponseWriter, t *terminal, m map[string]json.RawMessage, now time.Time) {
	reqNo, err := str(m, "refund_request_no", 20, true)
	var amt int64
	if err == nil {
		_, err = str(m, "operator", 32, true)
	}
	if err == nil {
		amt, err = amount(m, "refund_amount")
	}
	if err != nil {
		outer(w, "INVALID_PARAMS", err.Error())
		return
	}
	o := s.find(w, t, m, "REFUND_FAIL")
	if o == nil {
		return
	}
	if prev, seen := o.refunds[reqNo]; seen {
		if prev != amt {
			ok(w, biz{ResultCode: "REFUND_FAIL", ErrorCode: "UPAY_REFUND_ORDER_NOOP", ErrorMessage: "refund_request_no already used with another amount"})
			return
		}
		ok(w, biz{ResultCode: "REFUND_SUCCESS", Data: s.orderJSON(o)})
		return
	}
	switch {
	case o.status != gateway.StatusPaid && o.status != gateway.StatusPartialRefunded:
		ok(w, biz{ResultCode: "REFUND_FAIL", ErrorCode: "UPAY_REFUND_INVALID_ORDER_STATE", ErrorMessage: "order is " + string(o.status)})
	case o.refunded+amt > o.amount:
		ok(w, biz{ResultCode: "REFUND_FAIL", ErrorCode: "REFUNDABLE_AMOUNT_NOT_ENOUGH", ErrorMessage: "可退金额不足 (refundable amount not enough)"})
	default:
		o.refunds[reqNo] = amt
		o.refunded += amt
		o.status = gateway.StatusPartialRefunded
		if o.refunded == o.amount {
			o.status = gateway.StatusRefunded
		}
		ok(w, biz{ResultCode: "REFUND_SUCCESS", Data: s.orderJSON(o)})
	}
}

// refusedCancelLocked notes a cancel that did not happen: with
// LatePayAfterCancel the payer pays half way to the order's expiry.
func (s *Server) refusedCancelLocked(o *order, now time.Time) {
	if s.kit.Has(sandboxkit.LatePayAfterCancel) && o.latePayAt.IsZero() {
		o.latePayAt = sandboxkit.LatePayAt(now, o.created.Add(s.opts.OrderTTL))
	}
}

// findQuiet resolves sn or client_sn like find, without answering.
func (s *Server) findQuiet(t *terminal, m map[string]json.RawMessage) *order {
	sn, _ := str(m, "sn", 16, false)
	clientSN, _ := str(m, "client_sn", 32, false)
	if x := s.orders[sn]; sn != "" && x != nil && x.terminal == t.sn {
		return x
	}
	return s.byClient[t.sn+"/"+clientSN]
}

// expireLocked cancels orders left unpaid past the TTL, as Upay does
// ("payable for about 4 minutes ... before Upay cancels it itself",
// upay-v2.md line 115), and lets the late payer of LatePayAfterCancel pay
// first.
func (s *Server) expireLocked(now time.Time) {
	for _, o := range s.orders {
		if o.status == gateway.StatusCreated && !o.latePayAt.IsZero() && !now.Before(o.latePayAt) {
			o.status, o.txStatus, o.charges = gateway.StatusPaid, "SUCCESS", o.charges+1
			o.tradeNo = "4200" + o.sn
			o.finished = o.latePayAt
		}
		if o.status == gateway.StatusCreated && !now.Before(o.created.Add(s.opts.OrderTTL)) {
			o.status, o.txStatus, o.finished = gateway.StatusCanceled, "SUCCESS", o.created.Add(s.opts.OrderTTL)
		}
	}
}

// The payer.

func (s *Server) lookupLocked(id string) *order {
	if o := s.orders[id]; o != nil {
		return o
	}
	var found *order
	for _, o := range s.orders {
		if o.clientSN == id {
			if found != nil {
				return nil // ambiguous across terminals
			}
			found = o
		}
	}
	return found
}

// ErrNotPayable is returned by Pay and Decline for an order that is not
// waiting for payment (already paid, cancelled or expired).
var ErrNotPayable = sandboxkit.ErrNotPayable

// Pay charges the payer for the order named by id (sn or client_sn).
func (s *Server) Pay(id string) error { return s.payerAction(id, true) }

// Decline makes the payer's payment fail; the order ends PAY_CANCELED.
func (s *Server) Decline(id string) error { return s.payerAction(id, false) }

func (s *Server) payerAction(id string, pay bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.opts.Now()
	s.expireLocked(now)
	o := s.lookupLocked(id)
	if o == nil {
		return fmt.Errorf("sandbox: no order %q", id)
	}
	if o.status != gateway.StatusCreated {
		return fmt.Errorf("%w: %s is %s", ErrNotPayable, o.sn, o.status)
	}
	if pay {
		o.status, o.txStatus, o.charges = gateway.StatusPaid, "SUCCESS", o.charges+1
		o.tradeNo = "4200" + o.sn
	} else {
		o.status, o.txStatus = gateway.StatusPayCanceled, "FAIL_CANCELED"
	}
	o.finished = now
	s.saveLedgerLocked()
	return nil
}

// Ledger.

// Ledger returns every order, sorted by terminal and client_sn.
func (s *Server) Ledger() gateway.Ledger {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expireLocked(s.opts.Now())
	return s.ledgerLocked()
}

func (s *Server) ledgerLocked() gateway.Ledger {
	l := gateway.Ledger{Orders: []gateway.LedgerEntry{}}
	for _, o := range s.orders {
		l.Orders = append(l.Orders, gateway.LedgerEntry{
			Terminal: o.terminal, ClientSN: o.clientSN, SN: o.sn, Status: o.status,
			AmountCents: o.amount, RefundedCents: o.refunded, Charges: o.charges, Creates: o.creates,
		})
	}
	sandboxkit.SortLedger(&l)
	return l
}

func (s *Server) saveLedgerLocked() {
	if s.opts.LedgerPath == "" {
		return // and build no ledger: this runs after every call
	}
	if err := sandboxkit.WriteLedger(s.opts.LedgerPath, s.ledgerLocked()); err != nil {
		s.opts.Logger.Error("sandbox: writing ledger", "err", err)
	}
}

// maxUpload bounds an uploaded log (gzip bytes).
const maxUpload = 8 << 20

// uploadLog stores a terminal's log: /terminal/uploadLog takes "gzip bytes
// of the log file (signed like any request)" (upay-v2.md, "Terminal
// lifecycle"): the signature is md5(body + terminal_key) over those bytes.
// The body must be gzip (magic 1f 8b, RFC 1952 §2.3.1) and decompress.
func (s *Server) uploadLog(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxUpload+1))
	if err != nil || len(body) > maxUpload {
		outer(w, "INVALID_PARAMS", "log missing or larger than 8 MiB")
		return
	}
	parts := strings.Split(r.Header.Get("Authorization"), " ")
	if len(parts) != 2 || parts[0] == "" || parts[1] == "" {
		outer(w, "ILLEGAL_SIGN", "Authorization must be \"<sn> <sign>\"")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, _, good := s.authTerminal(w, parts[0], parts[1], body)
	if !good {
		return
	}
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err == nil {
		_, err = io.Copy(io.Discard, io.LimitReader(zr, 64<<20))
	}
	if err != nil {
		outer(w, "INVALID_PARAMS", "body is not gzip: "+err.Error())
		return
	}
	s.uploads = append(s.uploads, Upload{Terminal: t.sn, Gzip: body})
	ok(w, map[string]string{"result_code": "SUCCESS"})
}
