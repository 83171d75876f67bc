package locale

import (
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode"
)

var placeholder = regexp.MustCompile(`\{[a-z]+\}`)

// Every locale has exactly the ids of en.toml, with the same placeholders:
// a missing translation would fall back to English in front of a Chinese
// customer.
func TestLocalesAgree(t *testing.T) {
	en := Must("en")
	for _, tag := range Tags {
		l := Must(tag)
		if len(l.IDs()) != len(en.IDs()) {
			t.Errorf("%s has %d ids, en has %d", tag, len(l.IDs()), len(en.IDs()))
		}
		for _, id := range en.IDs() {
			s, ok := l.msgs[id]
			if !ok {
				t.Errorf("%s lacks %q", tag, id)
				continue
			}
			if strings.TrimSpace(s) == "" {
				t.Errorf("%s %q is empty", tag, id)
			}
			if a, b := strings.Join(placeholder.FindAllString(s, -1), ","), strings.Join(placeholder.FindAllString(en.msgs[id], -1), ","); a != b {
				t.Errorf("%s %q has placeholders %q, en %q", tag, id, a, b)
			}
		}
		for _, id := range l.IDs() {
			if _, ok := en.msgs[id]; !ok {
				t.Errorf("%s has %q, en has not", tag, id)
			}
		}
	}
}

// The ids the counter (agent/counter) and the renderers use must exist: the
// screen kinds and menu item ids named in display.Screen's doc.
func TestCounterIDs(t *testing.T) {
	ids := []string{"idle", "entering", "connecting", "awaiting-payment", "paid", "canceled", "expired", "refunded", "offline", "error",
		"declined", "checking", "late-paid", "menu", "pin", "report", "info",
		"refund_last", "refund_order", "reprint", "x_report", "z_report", "selftest", "network", "checkin", "activate",
		"refund", "activation",
		// reasons, labels and values agent/counter sets (machine.go, counter.go)
		"keypad_unplugged", "save_failed", "clock_wait", "pin_wrong", "pin_locked", "pin_not_set", "please_wait",
		"order", "result", "code", "queued", "reason", "refunded", "amount", "terminal", "store", "gateway",
		"ok", "failed", "not_found", "not_refundable", "busy", "unknown_error", "online", "offline",
		"watching", "do_not_hand_over", "keep_or_refund", "canceled_by_cashier", "not_paid_in_time", "not_charged",
		"amount.zero", "amount.decimals", "amount.digits", "amount.dot", "amount.over_max", "amount.syntax"}
	for _, tag := range Tags {
		for _, id := range ids {
			if _, ok := Must(tag).msgs[id]; !ok {
				t.Errorf("%s lacks %q", tag, id)
			}
		}
	}
}

// The words the issue quotes from real terminals (issue 16; wording of
// mainland and Hong Kong counter terminals).
func TestShopkeeperWords(t *testing.T) {
	for _, c := range []struct{ tag, id, want string }{
		{"zh-CN", "scan_to_pay", "请扫码支付"},
		{"zh-CN", "paid", "支付成功"},
		{"zh-CN", "canceled", "已取消"},
		{"zh-CN", "not_paid_in_time", "超时未支付"},
		{"zh-CN", "do_not_hand_over", "请勿交付商品"},
		{"zh-HK", "scan_to_pay", "請掃碼付款"},
		{"zh-HK", "paid", "付款成功"},
		{"en", "scan_to_pay", "Scan to pay"},
	} {
		if got := Must(c.tag).T(c.id); got != c.want {
			t.Errorf("%s %s = %q, want %q", c.tag, c.id, got, c.want)
		}
	}
}

// zh-HK is Traditional: none of these Simplified-only characters may appear
// (each differs from its Traditional form).
func TestHongKongIsTraditional(t *testing.T) {
	const simplified = "们这个说时间网络单据报终签启订扫码过确认货币额结钮选资费请误条复检录页为发让见实东车门问"
	l := Must("zh-HK")
	for _, id := range l.IDs() {
		for _, r := range l.T(id) {
			if strings.ContainsRune(simplified, r) {
				t.Errorf("zh-HK %q = %q has the Simplified %q", id, l.T(id), r)
			}
		}
	}
	// And zh-CN has no Traditional-only forms of the same.
	const traditional = "們這個說時間網絡單據報終簽啟訂掃碼過確認貨幣額結鈕選資費請誤條復檢錄頁為發讓見實東車門問"
	cn := Must("zh-CN")
	for _, id := range cn.IDs() {
		for _, r := range cn.T(id) {
			if strings.ContainsRune(traditional, r) {
				t.Errorf("zh-CN %q = %q has the Traditional %q", id, cn.T(id), r)
			}
		}
	}
}

func TestLookup(t *testing.T) {
	for in, want := range map[string]string{"": "zh-CN", "zh_cn": "zh-CN", "ZH-HK": "zh-HK", "zh-TW": "zh-HK", "en": "en", "en-US": "en"} {
		l, err := Lookup(in)
		if err != nil || l.Tag != want {
			t.Errorf("Lookup(%q) = %v, %v; want %s", in, l, err, want)
		}
	}
	if _, err := Lookup("fr"); err == nil || !strings.HasPrefix(err.Error(), "locale: ") {
		t.Errorf("Lookup(fr) = %v", err)
	}
	if ForGateway("yedpay") != "zh-HK" || ForGateway("upay") != "zh-CN" || ForGateway("alipay") != "zh-CN" {
		t.Error("gateway defaults: Yedpay serves Hong Kong, Upay and Alipay the mainland (README, seeds/004)")
	}
}

func TestMoney(t *testing.T) {
	// Yedpay amounts are HKD (seeds/004: "currency": "HKD"); issue 16: HK$.
	for _, c := range []struct {
		cents int64
		cur   string
		want  string
	}{{1250, "CNY", "¥12.50"}, {1250, "", "¥12.50"}, {1000, "HKD", "HK$10.00"}, {-5, "HKD", "-HK$0.05"}, {7, "EUR", "EUR 0.07"}} {
		if got := Money(c.cents, c.cur); got != c.want {
			t.Errorf("Money(%d, %q) = %q, want %q", c.cents, c.cur, got, c.want)
		}
	}
	if Must("zh-HK").Currency != "HKD" || Must("zh-CN").Currency != "CNY" {
		t.Error("default currencies")
	}
}

func TestFAndText(t *testing.T) {
	if got := Must("zh-CN").F("queued_n", "n", "3"); got != "3 笔待发送" {
		t.Errorf("F = %q", got)
	}
	l := Must("zh-HK")
	if l.Text("pin_wrong") != "密碼錯誤" || l.Text("gateway said 余额不足") != "gateway said 余额不足" {
		t.Error("Text must translate ids and pass other text through")
	}
	if l.T("no.such.id") != "no.such.id" {
		t.Error("a missing id shows as itself")
	}
	if l.Channel("Alipay") != "支付寶" || Must("zh-CN").Channel("WeChat Pay") != "微信支付" || l.Channel("Foo") != "Foo" {
		t.Error("Channel")
	}
	if Must("en").Outcome("partial_refunded") != "Part refunded" {
		t.Error("Outcome")
	}
}

func TestLoadZone(t *testing.T) {
	at := time.Date(2026, 7, 1, 4, 0, 0, 0, time.UTC)
	for name, want := range map[string]int{"Asia/Shanghai": 12, "Asia/Hong_Kong": 12, "UTC+8": 12, "+08:00": 12, "UTC-03:30": 0, "UTC": 4} {
		z, err := LoadZone(name)
		if err != nil {
			t.Errorf("LoadZone(%q): %v", name, err)
			continue
		}
		if h := at.In(z).Hour(); h != want {
			t.Errorf("%s: 04:00 UTC is %d h, want %d", name, h, want)
		}
	}
	if z, err := LoadZone(""); z != nil || err != nil {
		t.Error("empty zone must mean the locale's default")
	}
	if _, err := LoadZone("Mars/Olympus"); err == nil {
		t.Error("unknown zone accepted")
	}
	if at.In(Must("zh-HK").Zone).Hour() != 12 {
		t.Error("Hong Kong is UTC+8")
	}
}

// Words of every locale are printable: no control characters that would
// reach a printer or panel.
func TestNoControlCharacters(t *testing.T) {
	for _, tag := range Tags {
		for _, id := range Must(tag).IDs() {
			for _, r := range Must(tag).T(id) {
				if unicode.IsControl(r) {
					t.Errorf("%s %q has control character %U", tag, id, r)
				}
			}
		}
	}
}
