// Package locale holds every word that posagent shows on a screen or prints
// on paper, in the languages of the places its gateways serve: Simplified
// Chinese for mainland China (Upay, Alipay), Traditional Chinese for Hong
// Kong (Yedpay) and English.
//
// The words live in one TOML file per locale (zh-CN.toml, zh-HK.toml,
// en.toml), keyed by message id, so that a reviewer reads and corrects them
// as text, side by side, without reading Go. The ids are the screen kinds
// ("paid", "checking", …), the menu item ids the counter uses
// ("refund_last", "reprint", …), Info titles and labels, key hints
// ("key.enter") and the words of receipts, slips and reports
// ("receipt.amount", "report.net"). A test checks that every locale has
// exactly the ids of en.toml and the same {placeholders}.
//
// The wording follows real counter terminals: 请扫码支付, 支付成功, 正在确认…
// 请勿交付商品 in the mainland; 請掃碼付款, 付款成功, 多謝惠顧 in Hong Kong,
// where 付款, 收據, 貨品 and 網絡 are the shopkeeper's words.
//
// Time: China and Hong Kong are UTC+8 all year (no daylight saving since
// 1991 and 1979), so each locale's default zone is a fixed UTC+8 zone that
// needs no tzdata on the device; a configured IANA zone name overrides it.
package locale

import (
	"embed"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

//go:embed *.toml
var files embed.FS

// Tags lists the locales, default first.
var Tags = []string{"zh-CN", "zh-HK", "en"}

// Default is the locale used when none is configured.
const Default = "zh-CN"

// Locale is one language and place: its words, its default time zone and
// currency.
type Locale struct {
	// Tag is the BCP 47 tag: "zh-CN", "zh-HK" or "en".
	Tag string
	// Zone is the default time zone of the locale's place.
	Zone *time.Location
	// Currency is the default ISO 4217 currency: CNY, or HKD for zh-HK.
	Currency string

	msgs     map[string]string
	fallback *Locale // en, for an id a locale lacks
}

var (
	china    = time.FixedZone("CST", 8*3600) // Asia/Shanghai, no DST since 1991
	hongKong = time.FixedZone("HKT", 8*3600) // Asia/Hong_Kong, no DST since 1979
)

var locales = map[string]*Locale{}

func init() {
	for _, tag := range Tags {
		b, err := files.ReadFile(tag + ".toml")
		if err != nil {
			panic("locale: " + err.Error())
		}
		m := map[string]string{}
		if err := toml.Unmarshal(b, &m); err != nil {
			panic(fmt.Sprintf("locale: %s.toml: %v", tag, err))
		}
		l := &Locale{Tag: tag, Zone: china, Currency: "CNY", msgs: m}
		if tag == "zh-HK" {
			l.Zone, l.Currency = hongKong, "HKD"
		}
		locales[tag] = l
	}
	for _, l := range locales {
		if l.Tag != "en" {
			l.fallback = locales["en"]
		}
	}
}

// Lookup returns the locale named by tag; case and '_' for '-' do not
// matter, "" is Default, and "zh", "zh-Hans" and "zh-TW", "zh-Hant",
// "zh-MO" name the nearest of the three.
func Lookup(tag string) (*Locale, error) {
	t := strings.ToLower(strings.ReplaceAll(strings.TrimSpace(tag), "_", "-"))
	switch t {
	case "":
		return locales[Default], nil
	case "zh-cn", "zh", "zh-hans", "zh-hans-cn", "zh-sg":
		return locales["zh-CN"], nil
	case "zh-hk", "zh-hant", "zh-hant-hk", "zh-tw", "zh-mo":
		return locales["zh-HK"], nil
	case "en", "en-us", "en-gb", "en-hk":
		return locales["en"], nil
	}
	return nil, fmt.Errorf("locale: unknown locale %q (want %s)", tag, strings.Join(Tags, ", "))
}

// Must is Lookup for tags known to be good (tests, defaults); it panics on
// an unknown tag.
func Must(tag string) *Locale {
	l, err := Lookup(tag)
	if err != nil {
		panic(err)
	}
	return l
}

// ForGateway is the default locale of a gateway's customers: zh-HK for
// Yedpay (Hong Kong), zh-CN for Upay and Alipay (mainland China).
func ForGateway(gateway string) string {
	if strings.EqualFold(gateway, "yedpay") {
		return "zh-HK"
	}
	return "zh-CN"
}

// Has reports whether id is a message id (of this locale or en).
func (l *Locale) Has(id string) bool {
	if _, ok := l.msgs[id]; ok {
		return true
	}
	return l.fallback != nil && l.fallback.Has(id)
}

// T returns the words for id: this locale's, else English, else id itself
// (so an id missing from every file shows up as such instead of a blank).
func (l *Locale) T(id string) string {
	if s, ok := l.msgs[id]; ok {
		return s
	}
	if l.fallback != nil {
		return l.fallback.T(id)
	}
	return id
}

// Text is T for an id, and the text itself for anything that is not an id:
// a gateway's message or a reason typed by code passes through unchanged.
func (l *Locale) Text(s string) string {
	if l.Has(s) {
		return l.T(s)
	}
	return s
}

// F is T with placeholders filled in: F("queued_n", "n", "3").
func (l *Locale) F(id string, kv ...string) string {
	s := l.T(id)
	for i := 0; i+1 < len(kv); i += 2 {
		s = strings.ReplaceAll(s, "{"+kv[i]+"}", kv[i+1])
	}
	return s
}

// IDs returns every message id of the locale, sorted.
func (l *Locale) IDs() []string {
	ids := make([]string, 0, len(l.msgs))
	for id := range l.msgs {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// Symbol is the sign written before an amount: ¥ for CNY (and empty), HK$
// for HKD, else the code and a space.
func Symbol(currency string) string {
	switch strings.ToUpper(currency) {
	case "", "CNY", "RMB":
		return "¥"
	case "HKD":
		return "HK$"
	case "USD":
		return "US$"
	}
	return strings.ToUpper(currency) + " "
}

// Money formats cents with the currency sign: 1250 CNY → "¥12.50",
// -5 HKD → "-HK$0.05". Amounts are written the same way in every locale.
func Money(cents int64, currency string) string {
	sign := ""
	u := uint64(cents)
	if cents < 0 {
		sign = "-"
		u = uint64(-(cents + 1)) + 1 // safe for math.MinInt64
	}
	return fmt.Sprintf("%s%s%d.%02d", sign, Symbol(currency), u/100, u%100)
}

// channels maps the names gateways give a payment channel to message ids.
var channels = map[string]string{
	"alipay": "channel.alipay", "支付宝": "channel.alipay", "支付寶": "channel.alipay", "alipayhk": "channel.alipay", "alipay hk": "channel.alipay",
	"wechat": "channel.wechat", "wechat pay": "channel.wechat", "wechatpay": "channel.wechat", "weixin": "channel.wechat", "微信": "channel.wechat", "微信支付": "channel.wechat",
	"unionpay": "channel.unionpay", "银联": "channel.unionpay", "銀聯": "channel.unionpay", "云闪付": "channel.unionpay",
	"octopus": "channel.octopus", "八达通": "channel.octopus", "八達通": "channel.octopus",
	"payme": "channel.payme",
}

// Channel names a payment channel in the locale: "Alipay", "支付宝" and
// "支付寶" all become 支付宝 in zh-CN. Unknown names pass through.
func (l *Locale) Channel(name string) string {
	if id, ok := channels[strings.ToLower(strings.TrimSpace(name))]; ok {
		return l.T(id)
	}
	return name
}

// Outcome names an order state ("paid", "partial_refunded", …) for reports.
func (l *Locale) Outcome(state string) string {
	id := "outcome." + strings.ToLower(state)
	if l.Has(id) {
		return l.T(id)
	}
	return state
}

// LoadZone returns the time zone a configuration names: an IANA name
// ("Asia/Shanghai"), "Local", "UTC", or a fixed offset "UTC+8" / "+08:00".
// Asia/Shanghai and Asia/Hong_Kong work without tzdata on the device. ""
// returns nil: use the locale's Zone.
func LoadZone(name string) (*time.Location, error) {
	switch name {
	case "":
		return nil, nil
	case "Asia/Shanghai", "Asia/Chongqing", "Asia/Harbin", "PRC":
		if z, err := time.LoadLocation(name); err == nil {
			return z, nil
		}
		return china, nil
	case "Asia/Hong_Kong", "Hongkong":
		if z, err := time.LoadLocation(name); err == nil {
			return z, nil
		}
		return hongKong, nil
	}
	if z, ok := parseOffset(name); ok {
		return z, nil
	}
	z, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("locale: time zone %q: %v (use an IANA name such as Asia/Shanghai, or UTC+8)", name, err)
	}
	return z, nil
}

// parseOffset reads "UTC+8", "UTC-03:30", "+08:00", "+0800".
func parseOffset(s string) (*time.Location, bool) {
	t := strings.TrimPrefix(strings.TrimPrefix(s, "UTC"), "GMT")
	if t == "" || (t[0] != '+' && t[0] != '-') {
		return nil, false
	}
	sign := 1
	if t[0] == '-' {
		sign = -1
	}
	t = strings.ReplaceAll(t[1:], ":", "")
	var h, m int
	switch len(t) {
	case 1, 2:
		if _, err := fmt.Sscanf(t, "%d", &h); err != nil {
			return nil, false
		}
	case 4:
		if _, err := fmt.Sscanf(t, "%2d%2d", &h, &m); err != nil {
			return nil, false
		}
	default:
		return nil, false
	}
	if h > 14 || m > 59 {
		return nil, false
	}
	off := sign * (h*3600 + m*60)
	name := fmt.Sprintf("UTC%+03d:%02d", sign*h, m)
	return time.FixedZone(name, off), true
}
