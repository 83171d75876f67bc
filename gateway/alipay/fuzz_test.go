package alipay

import (
	"encoding/json"
	"errors"
	"testing"

	"posagent/gateway"
)

func acceptAll([]byte, string) error { return nil }

var fuzzSeeds = []string{
	`{"alipay_trade_precreate_response":{"code":"10000","msg":"Success","out_trade_no":"A1","qr_code":"https:\/\/qr.alipay.com\/bax03206"},"sign":"eA=="}`,
	`{"alipay_trade_query_response":{"code":"10000","msg":"Success","trade_no":"2014","out_trade_no":"A1","trade_status":"TRADE_SUCCESS","total_amount":"88.88","send_pay_date":"2014-11-27 15:45:57"},"sign":"eA=="}`,
	`{"alipay_trade_query_response":{"code":"40004","msg":"Business Failed","sub_code":"ACQ.TRADE_NOT_EXIST","sub_msg":"交易不存在"},"sign":"eA=="}`,
	`{"alipay_trade_close_response":{"code":"10000","msg":"Success","trade_no":"2013","out_trade_no":"A1"},"sign":"eA=="}`,
	`{"alipay_trade_refund_response":{"code":"10000","msg":"Success","out_trade_no":"A1","refund_fee":"0.01","fund_change":"Y"},"sign":"eA=="}`,
	`{"error_response":{"code":"40002","msg":"Invalid Arguments","sub_code":"isv.invalid-app-id"},"sign":"eA=="}`,
	`{"alipay_trade_query_response":{"code":"10000"},"alipay_trade_query_response":{"code":"10000"}}`,
	`{"result_code":"200","biz_response":{<html>oops`,
	`{"alipay_trade_query_response":{"code":"10000","total_amount":88.88}}`,
	`[]`, `null`, `{}`, `{"sign":1}`, ``,
}

// FuzzResponses feeds arbitrary bodies to every answer parser, with
// signature checks passed so that the parsers behind them are reached.
// Every input must give a *gateway.Error or a well-formed result.
func FuzzResponses(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		check := func(err error) {
			if err == nil {
				return
			}
			var ge *gateway.Error
			if !errors.As(err, &ge) || ge.Class == 0 {
				t.Fatalf("untyped error %T: %v", err, err)
			}
		}
		var pr precreateReply
		_, err := openResponse("precreate", MethodPrecreate, body, acceptAll, &pr)
		check(err)
		var q queryReply
		cm, err := openResponse("query", MethodQuery, body, acceptAll, &q)
		check(err)
		if err == nil {
			if cm.Code == codeSuccess {
				o, err := parseQueryReply("query", q.OutTradeNo, q)
				check(err)
				if err == nil {
					if o.AmountCents < 0 || o.NetAmountCents < 0 || o.NetAmountCents > o.AmountCents || o.Status == "" {
						t.Fatalf("bad order %+v from %q", o, body)
					}
				}
			} else if e := classify("query", cm); e == nil || e.Class == 0 {
				t.Fatalf("classify gave %v", e)
			}
		}
		var cr closeReply
		_, err = openResponse("cancel", MethodClose, body, acceptAll, &cr)
		check(err)
		var rr refundReply
		_, err = openResponse("refund", MethodRefund, body, acceptAll, &rr)
		check(err)
		// And with real verification nothing random ever passes.
		_, err = openResponse("query", MethodQuery, body, func(c []byte, s string) error { return Verify(SignRSA2, fuzzKey(), c, s) }, &q)
		if err == nil {
			t.Fatalf("random body verified: %q", body)
		}
		check(err)
	})
}

// FuzzTopLevel checks the raw-member scanner against encoding/json: what
// it accepts is valid JSON, and each member is kept byte for byte.
func FuzzTopLevel(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		m, err := topLevel(body)
		if err != nil {
			return
		}
		if !json.Valid(body) {
			t.Fatalf("accepted invalid JSON %q", body)
		}
		var std map[string]json.RawMessage
		if err := json.Unmarshal(body, &std); err != nil {
			t.Fatalf("encoding/json refuses %q: %v", body, err)
		}
		if len(std) != len(m) {
			t.Fatalf("members: %d vs %d", len(m), len(std))
		}
		for k, v := range m {
			if string(std[k]) != string(v) {
				t.Fatalf("member %q: %q vs %q", k, v, std[k])
			}
		}
	})
}
