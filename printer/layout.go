package printer

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/skip2/go-qrcode"

	"posagent/display/locale"
	"posagent/printer/escpos"
)

// Slip is a QR slip: printed for the customer to scan when the counter has
// no screen they can scan.
type Slip struct {
	Merchant    string
	AmountCents int64
	ClientSN    string // the order number
	QR          string // the payment URL/payload to encode
	ExpiresAt   time.Time
}

// ReceiptKind says what a receipt confirms.
type ReceiptKind int

// Receipt kinds.
const (
	Paid ReceiptKind = iota + 1
	Refunded
	// ReceiptLatePaid confirms a payment that arrived after the cashier
	// cancelled the sale or its window closed: the money is in, and the
	// receipt says that the shop must keep the sale or refund it.
	ReceiptLatePaid
)

func (k ReceiptKind) String() string {
	switch k {
	case Paid:
		return "paid"
	case Refunded:
		return "refunded"
	case ReceiptLatePaid:
		return "late-paid"
	}
	return fmt.Sprintf("ReceiptKind(%d)", int(k))
}

// Receipt is printed when a sale is paid or refunded.
type Receipt struct {
	Kind          ReceiptKind
	Merchant      string
	AmountCents   int64 // the sale amount
	RefundedCents int64 // Refunded only; 0 means the whole amount
	At            time.Time
	ClientSN      string // order number (ours)
	SN            string // gateway transaction number
	TradeNo       string // payment channel's trade number
	Channel       string // "Alipay", "WeChat Pay", "微信", ...: named in the locale
	Subject       string // the order subject, printed under the title; may be Chinese
}

// Layout turns slips and receipts into ESC/POS bytes for one printer model.
// It does no I/O: the benchmark and the golden tests use it directly.
type Layout struct {
	dots     int
	cols     int
	nativeQR bool
	cs       *escpos.Charset
	cut      escpos.CutMode
	loc      *time.Location
	module   int
	font     lineFont // draws the lines the charset cannot print
	lc       *locale.Locale
	currency string
}

// NewLayout returns the layout for cfg (only the paper, QR, charset, cut,
// location, locale, currency and QR module fields matter).
func NewLayout(cfg Config) (*Layout, error) {
	l := &Layout{nativeQR: cfg.NativeQR, loc: cfg.Location, module: cfg.QRModule, currency: cfg.Currency}
	tag := cfg.Locale
	if tag == "" {
		tag = "en" // what posagent printed before it had locales
	}
	lc, err := locale.Lookup(tag)
	if err != nil {
		return nil, fmt.Errorf("printer: %w", err)
	}
	l.lc = lc
	if l.currency == "" {
		l.currency = "CNY"
	}
	switch cfg.PaperMM {
	case 0, 58:
		l.dots = 384
	case 80:
		l.dots = 576
	default:
		return nil, fmt.Errorf("printer: paper width %d mm, want 58 or 80", cfg.PaperMM)
	}
	l.cols = l.dots / 12 // font A is 12 dots wide
	cs, err := escpos.LookupCharset(cfg.Charset)
	if err != nil {
		return nil, fmt.Errorf("printer: %w", err)
	}
	l.cs = cs
	switch cfg.Cut {
	case "", "partial":
		l.cut = escpos.CutPartial
	case "full":
		l.cut = escpos.CutFull
	default:
		return nil, fmt.Errorf("printer: cut %q, want \"partial\" or \"full\"", cfg.Cut)
	}
	if l.loc == nil {
		l.loc = lc.Zone
	}
	if l.module < 0 || l.module > 16 {
		return nil, fmt.Errorf("printer: QR module size %d out of range 1..16 (0 = automatic)", l.module)
	}
	l.font = tableFont{}
	if cfg.TextFont != "" {
		if l.font, err = loadFont(cfg.TextFont); err != nil {
			return nil, err
		}
	}
	return l, nil
}

// Dots is the printable width in dots (384 or 576).
func (l *Layout) Dots() int { return l.dots }

// money writes an amount with the sign of the layout's currency: HK$ for
// HKD; for CNY the fullwidth ￥ on Chinese printers, ¥ where the code page
// has it, else "CNY ".
func (l *Layout) money(cents int64) string {
	sign := ""
	if cents < 0 {
		sign, cents = "-", -cents
	}
	sym := locale.Symbol(l.currency)
	if sym == "¥" {
		switch {
		case l.cs.Kanji:
			sym = "￥" // U+FFE5, GB2312 A3A4: every Chinese font has it
		case string(l.cs.Encode(nil, "¥")) != "?":
		default:
			sym = "CNY "
		}
	}
	return fmt.Sprintf("%s%s%d.%02d", sign, sym, cents/100, cents%100)
}

// t is the layout's words for a message id (package locale).
func (l *Layout) t(id string) string { return l.lc.T(id) }

func (l *Layout) when(t time.Time) string {
	return t.In(l.loc).Format("2006-01-02 15:04:05")
}

// wrap splits s into lines of at most cols cells without cutting a word:
// Latin text breaks at spaces, Chinese between characters (never before a
// closing punctuation mark), and preferably after a comma or colon in the
// second half of the line, as a typesetter would. Only a word longer than a
// whole line is cut.
func (l *Layout) wrap(s string, cols int) []string {
	raster := l.rasterised(s)
	width := func(r rune) int {
		if raster {
			return runeCells(r)
		}
		return l.cs.Cells(string(r))
	}
	var lines []string
	var cur []rune
	n := 0
	flush := func() {
		lines = append(lines, strings.TrimRight(string(cur), " "))
		cur, n = cur[:0], 0
	}
	for _, seg := range segments(s) {
		w := 0
		for _, r := range seg {
			w += width(r)
		}
		if n > 0 && n+w > cols {
			// Break after a pause in the second half of the line if there
			// is one, so that a clause stays together.
			carry := []rune(nil)
			for i := len(cur) - 1; i > len(cur)/2; i-- {
				if strings.ContainsRune("，：；。、", cur[i]) { // Chinese pauses; Latin breaks at spaces
					carry = append(carry, []rune(strings.TrimLeft(string(cur[i+1:]), " "))...)
					cur = cur[:i+1]
					break
				}
			}
			flush()
			cur = append(cur, carry...)
			for _, r := range carry {
				n += width(r)
			}
			if len(cur) == 0 && strings.TrimSpace(string(seg)) == "" {
				continue // no line starts with a space
			}
		}
		for _, r := range seg {
			if n+width(r) > cols && n > 0 { // a word longer than a line
				flush()
			}
			cur = append(cur, r)
			n += width(r)
		}
	}
	if n > 0 || len(lines) == 0 {
		flush()
	}
	return lines
}

// segments splits s into the units a line may break between: a Latin word
// with the spaces after it, or one wide (Chinese) character with any
// punctuation that must not begin a line.
func segments(s string) [][]rune {
	var out [][]rune
	for _, r := range s {
		last := len(out) - 1
		switch {
		case last >= 0 && strings.ContainsRune("，。、：；！？）》」』,.:;!?)… ", r):
			out[last] = append(out[last], r)
		case runeCells(r) == 2:
			out = append(out, []rune{r})
		case last >= 0 && runeCells(out[last][len(out[last])-1]) == 1 && out[last][len(out[last])-1] != ' ':
			out[last] = append(out[last], r)
		default:
			out = append(out, []rune{r})
		}
	}
	return out
}

// rasterised reports whether a line holding s goes out as an image.
func (l *Layout) rasterised(s string) bool {
	return !l.cs.CanEncode(s)
}

// cells is the printed width of s in 12-dot cells, as text in the charset
// or, for a rasterised line, one cell per narrow and two per wide character.
func (l *Layout) cells(s string) int {
	if !l.rasterised(s) {
		return l.cs.Cells(s)
	}
	n := 0
	for _, r := range s {
		n += runeCells(r)
	}
	return n
}

// kv prints "label     value" across the line, or the value right-aligned
// on lines of its own when both do not fit.
func (l *Layout) kv(b *doc, label, value string) {
	lw, vw := l.cells(label), l.cells(value)
	if lw+1+vw <= l.cols {
		b.Line(label + strings.Repeat(" ", l.cols-lw-vw) + value)
		return
	}
	b.Line(label)
	for _, v := range l.wrap(value, l.cols) {
		b.Line(strings.Repeat(" ", l.cols-l.cells(v)) + v)
	}
}

// title prints s centred in bold double size, or bold normal size when it
// does not fit in half the columns.
func (l *Layout) title(b *doc, s string) {
	if l.cells(s)*2 <= l.cols {
		b.Style(escpos.Style{Bold: true, DoubleHeight: true, DoubleWidth: true}).Line(s)
	} else {
		b.Style(escpos.Style{Bold: true})
		for _, line := range l.wrap(s, l.cols) {
			b.Line(line)
		}
	}
	b.Style(escpos.Style{})
}

// qr prints the payload centred, natively or as a raster image. The caller
// is at the start of a line with centre alignment.
func (l *Layout) qr(b *doc, payload string) error {
	q, err := qrcode.New(payload, qrcode.Medium)
	if err != nil {
		return fmt.Errorf("printer: QR payload of %d bytes cannot be encoded: %v", len(payload), err)
	}
	q.DisableBorder = true
	matrix := q.Bitmap()
	n := len(matrix)
	module := l.module
	if module == 0 {
		// The largest module that keeps the symbol within 3/4 of the paper,
		// at most 8 dots (1 mm): bigger scans no better and costs paper.
		module = min(8, l.dots*3/4/n)
	}
	if module < 2 || n*module > l.dots {
		return fmt.Errorf("printer: QR payload of %d bytes needs %d modules: too big for %d-dot paper", len(payload), n, l.dots)
	}
	b.LF() // quiet zone above: one empty line is 30 dots, ~4 modules
	if l.nativeQR {
		b.b.QR(payload, module, escpos.ECCMedium)
	} else {
		size := n * module
		pad := (l.dots - size) / 2
		bm := escpos.NewBitmap(pad+size, size)
		for y, row := range matrix {
			for x, on := range row {
				if !on {
					continue
				}
				for dy := 0; dy < module; dy++ {
					for dx := 0; dx < module; dx++ {
						bm.Set(pad+x*module+dx, y*module+dy, true)
					}
				}
			}
		}
		// The image carries its own left margin: not every printer applies
		// ESC a to raster images.
		b.raster(bm)
	}
	b.LF()
	return nil
}

// Slip encodes a QR slip.
func (l *Layout) Slip(s Slip) ([]byte, error) {
	if s.QR == "" {
		return nil, errors.New("printer: slip has no QR payload")
	}
	if s.AmountCents <= 0 {
		return nil, fmt.Errorf("printer: slip amount %d cents, want > 0", s.AmountCents)
	}
	b := l.newDoc().Align(escpos.Center)
	if s.Merchant != "" {
		l.title(b, s.Merchant)
	}
	b.Line(l.t("slip.scan_to_pay"))
	b.Style(escpos.Style{Bold: true, DoubleHeight: true, DoubleWidth: true}).Line(l.money(s.AmountCents)).Style(escpos.Style{})
	if s.ClientSN != "" {
		for _, line := range l.wrap(l.t("receipt.order")+" "+s.ClientSN, l.cols) {
			b.Line(line)
		}
	}
	if err := l.qr(b, s.QR); err != nil {
		return nil, err
	}
	if !s.ExpiresAt.IsZero() {
		b.Line(l.t("slip.expires") + " " + l.when(s.ExpiresAt))
	}
	b.b.Cut(l.cut)
	return b.b.Bytes()
}

// Receipt encodes a paid or refunded receipt.
func (l *Layout) Receipt(r Receipt) ([]byte, error) {
	var head string
	switch r.Kind {
	case Paid:
		head = l.t("receipt.paid")
	case Refunded:
		head = l.t("receipt.refunded")
	case ReceiptLatePaid:
		head = l.t("receipt.late_paid")
	default:
		return nil, fmt.Errorf("printer: receipt kind %v, want Paid, Refunded or ReceiptLatePaid", r.Kind)
	}
	if r.AmountCents <= 0 {
		return nil, fmt.Errorf("printer: receipt amount %d cents, want > 0", r.AmountCents)
	}
	if r.RefundedCents < 0 || r.RefundedCents > r.AmountCents {
		return nil, fmt.Errorf("printer: refunded %d cents of a %d-cent sale", r.RefundedCents, r.AmountCents)
	}
	b := l.newDoc().Align(escpos.Center)
	if r.Merchant != "" {
		l.title(b, r.Merchant)
	}
	l.title(b, head)
	if r.Subject != "" {
		for _, line := range l.wrap(r.Subject, l.cols) {
			b.Line(line)
		}
	}
	b.Align(escpos.Left)
	rule := strings.Repeat("-", l.cols)
	b.Line(rule)
	l.kv(b, l.t("receipt.amount"), l.money(r.AmountCents))
	if r.Kind == Refunded {
		refunded := r.RefundedCents
		if refunded == 0 {
			refunded = r.AmountCents
		}
		l.kv(b, l.t("receipt.refunded_amount"), l.money(refunded))
	}
	if !r.At.IsZero() {
		l.kv(b, l.t("receipt.time"), l.when(r.At))
	}
	for _, f := range [][2]string{{"receipt.order", r.ClientSN}, {"receipt.txn", r.SN}, {"receipt.trade_no", r.TradeNo}, {"receipt.channel", l.lc.Channel(r.Channel)}} {
		if f[1] != "" {
			l.kv(b, l.t(f[0]), f[1])
		}
	}
	b.Line(rule)
	if r.Kind == ReceiptLatePaid {
		for _, line := range l.wrap(l.t("receipt.late_paid_note"), l.cols) {
			b.Line(line)
		}
		b.Line(rule)
	}
	b.Align(escpos.Center).Line(l.t("receipt.thank_you"))
	b.b.Cut(l.cut)
	return b.b.Bytes()
}

// SelfTest encodes a page that exercises everything the layouts use, so a
// technician sees at once whether the settings match the printer: junk such
// as "k1A2k1Ck" where the QR should be means the printer has no native QR,
// '?' or garbage in the sample line means the wrong charset, a gap in the
// dot pattern means a worn head.
func (l *Layout) SelfTest() ([]byte, error) {
	b := l.newDoc().Align(escpos.Center)
	l.title(b, l.t("selftest.title"))
	b.Line("posagent")
	b.Align(escpos.Left)
	b.Line(strings.Repeat("-", l.cols))
	qr, qrWord := "raster", l.t("selftest.qr_raster")
	if l.nativeQR {
		qr, qrWord = "native", l.t("selftest.qr_native")
	}
	cut := l.t("selftest.cut_partial")
	if l.cut == escpos.CutFull {
		cut = l.t("selftest.cut_full")
	}
	l.kv(b, l.t("selftest.paper"), l.lc.F("selftest.paper_size", "dots", strconv.Itoa(l.dots), "cols", strconv.Itoa(l.cols)))
	l.kv(b, l.t("selftest.charset"), l.cs.Name)
	l.kv(b, l.t("selftest.qr"), qrWord)
	l.kv(b, l.t("selftest.cut"), cut)
	ruler := strings.Repeat("0123456789", l.cols/10+1)[:l.cols]
	b.Line(ruler)
	b.Line(l.t("selftest.normal"))
	b.Style(escpos.Style{Bold: true}).Line(l.t("selftest.bold"))
	b.Style(escpos.Style{DoubleHeight: true}).Line(l.t("selftest.double_height"))
	b.Style(escpos.Style{DoubleWidth: true}).Line(l.t("selftest.double_width"))
	b.Style(escpos.Style{})
	// The charset sample stays the same in every locale: it tests the
	// printer's code page, not the words.
	if l.cs.Kanji {
		b.Line("中文打印测试 " + l.money(1250))
	} else {
		b.Line("Café Straße " + l.money(1250))
	}
	b.Line(l.t("selftest.dots"))
	// Every head dot: a checkerboard of 8×8 squares, then a solid bar.
	bm := escpos.NewBitmap(l.dots, 24)
	for y := 0; y < 24; y++ {
		for x := 0; x < l.dots; x++ {
			bm.Set(x, y, y >= 16 || (x/8+y/8)%2 == 0)
		}
	}
	b.raster(bm)
	b.Align(escpos.Center)
	if err := l.qr(b, "POSAGENT SELF-TEST "+qr); err != nil {
		return nil, err
	}
	b.b.Cut(l.cut)
	return b.b.Bytes()
}
