package alipay

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"posagent/gateway"
)

// The open platform answers every call with one JSON object:
//
//	{"alipay_trade_query_response":{"code":"10000",...},"sign":"base64..."}
//
// or, when the gateway refused the call before it reached the API,
// {"error_response":{...},"sign":"..."}. The signature covers the bytes of
// the *_response value exactly as they were sent. So the value is never
// re-serialised (Go would turn "\/" into "/" and reorder nothing, but the
// bytes differ) and never cut out of the body by searching for field names
// (Alipay may reorder or add fields): topLevel walks the object with the
// standard JSON tokenizer and keeps each member's bytes as a
// json.RawMessage, which is the raw input, unchanged.

// topLevel returns the raw bytes of each member of the JSON object body. It
// refuses anything that is not exactly one object, and duplicate keys (a
// body with two *_response members would leave it open which one was
// signed).
func topLevel(body []byte) (map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("body is not JSON: %v", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, errors.New("body is not a JSON object")
	}
	m := make(map[string]json.RawMessage)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("body is not JSON: %v", err)
		}
		key, ok := tok.(string)
		if !ok {
			return nil, errors.New("body is not a JSON object")
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, fmt.Errorf("body is not JSON: %v", err)
		}
		if _, dup := m[key]; dup {
			return nil, fmt.Errorf("body has member %q twice", key)
		}
		m[key] = raw
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return nil, errors.New("body is not a complete JSON object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("body has data after the JSON object")
	}
	return m, nil
}

// responseKey is the member that answers method:
// alipay.trade.query -> alipay_trade_query_response.
func responseKey(method string) string {
	return strings.ReplaceAll(method, ".", "_") + "_response"
}

// verifier checks a signature over the raw response value.
type verifier func(content []byte, sign string) error

// common holds the fields every answer has.
type common struct {
	Code    string `json:"code"`
	Msg     string `json:"msg"`
	SubCode string `json:"sub_code"`
	SubMsg  string `json:"sub_msg"`
}

// openResponse finds the answer to method in body, verifies its signature
// and decodes it into v (which must embed common via the returned value).
// Every failure is an Unknown *gateway.Error: a body that cannot be read
// or trusted says nothing about what the gateway did.
func openResponse(op, method string, body []byte, verify verifier, v any) (common, error) {
	var c common
	m, err := topLevel(body)
	if err != nil {
		return c, unknown(op, "", fmt.Errorf("alipay: %v", err))
	}
	raw, ok := m[responseKey(method)]
	if !ok {
		// The gateway's own refusal (bad app_id, unknown method, ...). It
		// is trusted only if it is signed like any other answer.
		raw, ok = m["error_response"]
	}
	if !ok || len(raw) == 0 || raw[0] != '{' {
		return c, unknown(op, "", fmt.Errorf("alipay: body has no %s object", responseKey(method)))
	}
	var sign string
	if s, ok := m["sign"]; ok {
		if err := json.Unmarshal(s, &sign); err != nil {
			return c, unknown(op, "", errors.New("alipay: sign is not a JSON string"))
		}
	}
	if err := verify(raw, sign); err != nil {
		// Never trust what an unverifiable answer says, not even
		// "failed". A refusal that came with no signature at all is real
		// (field-notes.md; the Java SDK verifies a failed answer only
		// when it has a sign, AbstractAlipayClient.checkResponseSign):
		// it is kept in the error for the caller to judge per call.
		var uc common
		if sign == "" && json.Unmarshal(raw, &uc) == nil && uc.Code != "" && uc.Code != codeSuccess {
			return c, unknown(op, uc.Code, &unsignedRefusal{c: uc})
		}
		return c, unknown(op, "", err)
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return c, unknown(op, "", fmt.Errorf("alipay: %s: %v", responseKey(method), err))
	}
	if v != nil && c.Code == codeSuccess {
		if err := json.Unmarshal(raw, v); err != nil {
			return c, unknown(op, "", fmt.Errorf("alipay: %s: %v", responseKey(method), err))
		}
	}
	return c, nil
}

// Gateway answer codes (open platform "公共错误码").
const (
	codeSuccess     = "10000"
	codeUnavailable = "20000" // isp.unknow-error: service unavailable, outcome unknown
	codeAuthToken   = "20001" // aop.invalid-auth-token
	codeMissingArg  = "40001"
	codeInvalidArg  = "40002"
	codeBusiness    = "40004"
	codeNoPerm      = "40006"
)

// unsignedRefusal is the cause of the Unknown error for a refusal that
// carried no signature. Precreate, Query and Cancel decide whether its code
// proves that nothing ran (see the package doc); otherwise it stays Unknown.
type unsignedRefusal struct{ c common }

func (u *unsignedRefusal) Error() string {
	s := "alipay: unsigned refusal " + u.c.Code
	if u.c.SubCode != "" {
		s += "/" + u.c.SubCode
	}
	if u.c.SubMsg != "" {
		s += ": " + u.c.SubMsg
	}
	return s
}

// configHints name the setting at fault for the open platform's
// gateway-level refusals ("公共错误码").
var configHints = map[string]string{
	"isv.invalid-app-id":                "app_id is not an app Alipay knows: check gateway.app_id",
	"isv.missing-app-id":                "app_id is missing: set gateway.app_id",
	"isv.invalid-signature":             "the signature does not verify at Alipay: the app private key (gateway.app_private_key_file) does not match the app public key registered for gateway.app_id",
	"isv.missing-signature":             "the request was not signed: check gateway.app_private_key_file",
	"isv.invalid-signature-type":        "sign_type refused: the app must be registered for RSA2 (or RSA) keys",
	"isv.invalid-method":                "this app cannot call the method: sign the face-to-face payment (当面付) product for gateway.app_id, or check gateway.url",
	"isv.insufficient-isv-permissions":  "the app lacks permission for this call: check the products signed for gateway.app_id",
	"isv.insufficient-user-permissions": "the merchant has not authorised this app (app_auth_token)",
	"aop.invalid-auth-token":            "app_auth_token refused",
	"ACQ.ACCESS_FORBIDDEN":              "the app may not call this method: check the products signed for gateway.app_id",
	"ACQ.PARTNER_ERROR":                 "seller and app do not match: check gateway.app_id",
}

// classify turns a non-success answer into the error the engine needs.
func classify(op string, c common) *gateway.Error {
	e := &gateway.Error{Class: gateway.Rejected, Op: op, Code: c.Code, Message: c.Msg}
	if c.SubCode != "" {
		e.Code = c.Code + "/" + c.SubCode
	}
	if c.SubMsg != "" {
		e.Message = c.SubMsg
	}
	sub := c.SubCode
	switch {
	case c.Code == codeUnavailable, strings.HasPrefix(sub, "isp."), sub == "ACQ.SYSTEM_ERROR":
		// Alipay's own trouble: it may have acted. Its advice is to ask
		// again with the same out_trade_no, which is what Unknown means.
		e.Class = gateway.Unknown
	case c.Code == codeAuthToken, c.Code == codeNoPerm,
		sub == "isv.invalid-signature", sub == "isv.missing-signature",
		sub == "isv.invalid-signature-type", sub == "isv.invalid-app-id",
		sub == "isv.missing-app-id",
		sub == "ACQ.ACCESS_FORBIDDEN", sub == "ACQ.PARTNER_ERROR":
		// The configuration is wrong; no retry helps. ErrAuth too, for
		// callers that look for a credential problem.
		e.Err = fmt.Errorf("%w: %w", gateway.ErrConfig, gateway.ErrAuth)
		if h := configHints[sub]; h != "" {
			e.Message = strings.TrimSpace(e.Message + " (" + h + ")")
		}
	case sub == "isv.invalid-method":
		e.Err = gateway.ErrConfig
		e.Message = strings.TrimSpace(e.Message + " (" + configHints[sub] + ")")
	case sub == "isv.invalid-timestamp":
		e.Message += " (is the device clock right? `posagent doctor` checks it; timestamp is sent as Beijing time)"
	case sub == "ACQ.TRADE_NOT_EXIST":
		e.Err = gateway.ErrOrderNotFound
	case sub == "ACQ.CONTEXT_INCONSISTENT", sub == "ACQ.DISCORDANT_REPEAT_REQUEST":
		e.Err = gateway.ErrConflict
	case c.Code == "":
		e.Class = gateway.Unknown
		e.Err = errors.New("alipay: answer has no code")
	}
	return e
}

func unknown(op, code string, err error) *gateway.Error {
	return &gateway.Error{Class: gateway.Unknown, Op: op, Code: code, Err: err}
}

// Trade statuses of alipay.trade.query.
const (
	tradeWaitBuyerPay = "WAIT_BUYER_PAY"
	tradeClosed       = "TRADE_CLOSED"
	tradeSuccess      = "TRADE_SUCCESS"
	tradeFinished     = "TRADE_FINISHED"
)

type precreateReply struct {
	OutTradeNo string `json:"out_trade_no"`
	QRCode     string `json:"qr_code"`
}

type queryReply struct {
	TradeNo     string `json:"trade_no"`
	OutTradeNo  string `json:"out_trade_no"`
	TradeStatus string `json:"trade_status"`
	TotalAmount string `json:"total_amount"`
	SendPayDate string `json:"send_pay_date"`
}

type closeReply struct {
	TradeNo    string `json:"trade_no"`
	OutTradeNo string `json:"out_trade_no"`
}

type refundReply struct {
	TradeNo      string `json:"trade_no"`
	OutTradeNo   string `json:"out_trade_no"`
	FundChange   string `json:"fund_change"`
	RefundFee    string `json:"refund_fee"` // total refunded so far for the trade
	GmtRefundPay string `json:"gmt_refund_pay"`
}

// beijing is China Standard Time. A fixed zone, not zoneinfo: a Pi image
// may lack tzdata, and China has had no DST since 1991.
var beijing = time.FixedZone("CST", 8*60*60)

const timeLayout = "2006-01-02 15:04:05"

// parseQueryReply maps an alipay.trade.query answer onto an Order.
//
//	WAIT_BUYER_PAY                     -> CREATED (scanned, not paid yet)
//	TRADE_SUCCESS, TRADE_FINISHED      -> PAID
//	TRADE_CLOSED with send_pay_date    -> REFUNDED (paid, then refunded in full)
//	TRADE_CLOSED without send_pay_date -> CANCELED (closed unpaid)
//
// alipay.trade.query carries no refund total, so a partial refund is
// visible only in the answer to Refund; Query reports such a trade PAID.
func parseQueryReply(op, clientSN string, q queryReply) (gateway.Order, error) {
	if q.OutTradeNo != clientSN {
		return gateway.Order{}, unknown(op, "", fmt.Errorf("alipay: answer is about out_trade_no %q, asked about %q", q.OutTradeNo, clientSN))
	}
	total, err := ParseYuan(q.TotalAmount)
	if err != nil {
		return gateway.Order{}, unknown(op, "", fmt.Errorf("alipay: total_amount: %v", err))
	}
	o := gateway.Order{ClientSN: clientSN, SN: q.TradeNo, AmountCents: total, NetAmountCents: total, Channel: Channel}
	var paidAt time.Time
	if q.SendPayDate != "" {
		paidAt, err = time.ParseInLocation(timeLayout, q.SendPayDate, beijing)
		if err != nil {
			return gateway.Order{}, unknown(op, "", fmt.Errorf("alipay: send_pay_date %q is not %s", q.SendPayDate, timeLayout))
		}
	}
	switch q.TradeStatus {
	case tradeWaitBuyerPay:
		o.Status = gateway.StatusCreated
	case tradeSuccess, tradeFinished:
		o.Status = gateway.StatusPaid
		o.TradeNo = q.TradeNo
		o.FinishedAt = paidAt
	case tradeClosed:
		if q.SendPayDate != "" {
			o.Status = gateway.StatusRefunded
			o.TradeNo = q.TradeNo
			o.NetAmountCents = 0
			o.FinishedAt = paidAt
		} else {
			o.Status = gateway.StatusCanceled
		}
	default:
		return gateway.Order{}, unknown(op, "", fmt.Errorf("alipay: unknown trade_status %q", q.TradeStatus))
	}
	return o, nil
}
