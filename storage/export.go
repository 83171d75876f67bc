package storage

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"
)

// Yuan formats cents as yuan with two decimals: 1250 → "12.50", -5 → "-0.05".
func Yuan(cents int64) string {
	sign := ""
	u := uint64(cents)
	if cents < 0 {
		sign, u = "-", uint64(-(cents+1))+1 // no overflow at math.MinInt64
	}
	b := make([]byte, 0, 24)
	b = append(b, sign...)
	b = strconv.AppendUint(b, u/100, 10)
	return string(append(b, '.', byte('0'+u%100/10), byte('0'+u%10)))
}

// ExportRow is one order in an end-of-day export, the same columns in
// JSON and CSV. Amounts are given both as yuan text and as cents.
type ExportRow struct {
	ClientSN      string `json:"client_sn"`
	Seq           uint64 `json:"seq"`
	CreatedAt     string `json:"created_at"`
	UpdatedAt     string `json:"updated_at"`
	Gateway       string `json:"gateway"`
	Channel       string `json:"channel"`
	State         string `json:"state"`
	Final         bool   `json:"final"`
	GatewayStatus string `json:"gateway_status"`
	SN            string `json:"sn"`
	TradeNo       string `json:"trade_no"`
	Amount        string `json:"amount"`
	AmountCents   int64  `json:"amount_cents"`
	Refunded      string `json:"refunded"`
	RefundedCents int64  `json:"refunded_cents"`
	Subject       string `json:"subject"`
	Operator      string `json:"operator"`
	Attempts      int    `json:"attempts"`
	LastError     string `json:"last_error"`
}

// csvHeader lists the columns of ExportCSV, in order.
var csvHeader = []string{"client_sn", "seq", "created_at", "updated_at", "gateway", "channel", "state", "final",
	"gateway_status", "sn", "trade_no", "amount", "amount_cents", "refunded", "refunded_cents",
	"subject", "operator", "attempts", "last_error"}

// rfc3339 shows a stored (UTC) time in the terminal's local zone, with
// its offset, so the merchant reads shop time and the value stays exact.
func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(time.Local).Format(time.RFC3339)
}

func exportRow(o Order) ExportRow {
	return ExportRow{
		ClientSN: o.ClientSN, Seq: o.Seq, CreatedAt: rfc3339(o.CreatedAt), UpdatedAt: rfc3339(o.UpdatedAt),
		Gateway: o.Gateway, Channel: o.Channel, State: o.State, Final: Settled(o), GatewayStatus: o.GatewayStatus,
		SN: o.SN, TradeNo: o.TradeNo, Amount: Yuan(o.AmountCents), AmountCents: o.AmountCents,
		Refunded: Yuan(o.RefundedCents), RefundedCents: o.RefundedCents, Subject: o.Subject,
		Operator: o.Operator, Attempts: o.Attempts, LastError: o.LastError,
	}
}

// StateTotal sums the orders of one state in an export.
type StateTotal struct {
	Count         int    `json:"count"`
	Amount        string `json:"amount"`
	AmountCents   int64  `json:"amount_cents"`
	Refunded      string `json:"refunded"`
	RefundedCents int64  `json:"refunded_cents"`
}

// Export is the document ExportJSON writes.
type Export struct {
	GeneratedAt string                `json:"generated_at"`
	Since       string                `json:"since,omitempty"`
	Until       string                `json:"until,omitempty"`
	State       string                `json:"state,omitempty"`
	Count       int                   `json:"count"`
	ByState     map[string]StateTotal `json:"by_state"`
	Orders      []ExportRow           `json:"orders"`
}

// ExportJSON writes the orders matching f (newest first) with totals per
// state, for the merchant's end-of-day reconciliation. It streams: the
// orders are written as they are read, and "count" and "by_state" come
// after them, so memory stays flat whatever the range.
func (db *DB) ExportJSON(w io.Writer, f Filter) error {
	bw := bufio.NewWriterSize(w, 32<<10)
	fail := func(err error) error {
		var ce *CorruptError
		if errors.As(err, &ce) || strings.HasPrefix(err.Error(), "storage: ") {
			return err
		}
		return fmt.Errorf("storage: export json: %w", err)
	}
	head := struct {
		GeneratedAt string `json:"generated_at"`
		Since       string `json:"since,omitempty"`
		Until       string `json:"until,omitempty"`
		State       string `json:"state,omitempty"`
	}{rfc3339(db.now()), rfc3339(f.Since), rfc3339(f.Until), f.State}
	raw, err := json.MarshalIndent(head, "", "  ")
	if err != nil {
		return fail(err)
	}
	bw.Write(raw[:len(raw)-2]) // without "\n}"
	bw.WriteString(",\n  \"orders\": [")
	count := 0
	byState := map[string]StateTotal{}
	var row []byte
	for o, err := range db.Orders(f) {
		if err != nil {
			return fail(err)
		}
		row = appendRowJSON(row[:0], exportRow(o))
		if count > 0 {
			bw.WriteByte(',')
		}
		bw.WriteString("\n    ")
		if _, err := bw.Write(row); err != nil {
			return fail(err)
		}
		count++
		t := byState[o.State]
		t.Count++
		t.AmountCents += o.AmountCents
		t.RefundedCents += o.RefundedCents
		t.Amount, t.Refunded = Yuan(t.AmountCents), Yuan(t.RefundedCents)
		byState[o.State] = t
	}
	if count > 0 {
		bw.WriteString("\n  ")
	}
	tail := struct {
		Count   int                   `json:"count"`
		ByState map[string]StateTotal `json:"by_state"`
	}{count, byState}
	raw, err = json.MarshalIndent(tail, "", "  ")
	if err != nil {
		return fail(err)
	}
	bw.WriteString("],\n")
	bw.Write(raw[2:]) // without "{\n"
	bw.WriteByte('\n')
	if err := bw.Flush(); err != nil {
		return fail(err)
	}
	return nil
}

// appendRowJSON writes r as json.MarshalIndent(r, "    ", "  ") does,
// without reflection: a full export writes a million of them.
func appendRowJSON(b []byte, r ExportRow) []byte {
	const sep = ",\n      "
	str := func(b []byte, k, v string) []byte {
		b = append(append(append(b, sep...), '"'), k...)
		return appendJSONString(append(b, '"', ':', ' '), v)
	}
	num := func(b []byte, k string, v int64) []byte {
		b = append(append(append(b, sep...), '"'), k...)
		return strconv.AppendInt(append(b, '"', ':', ' '), v, 10)
	}
	b = append(b, "{\n      \"client_sn\": "...)
	b = appendJSONString(b, r.ClientSN)
	b = num(b, "seq", int64(r.Seq))
	b = str(b, "created_at", r.CreatedAt)
	b = str(b, "updated_at", r.UpdatedAt)
	b = str(b, "gateway", r.Gateway)
	b = str(b, "channel", r.Channel)
	b = str(b, "state", r.State)
	b = append(append(b, sep...), "\"final\": "...)
	b = strconv.AppendBool(b, r.Final)
	b = str(b, "gateway_status", r.GatewayStatus)
	b = str(b, "sn", r.SN)
	b = str(b, "trade_no", r.TradeNo)
	b = str(b, "amount", r.Amount)
	b = num(b, "amount_cents", r.AmountCents)
	b = str(b, "refunded", r.Refunded)
	b = num(b, "refunded_cents", r.RefundedCents)
	b = str(b, "subject", r.Subject)
	b = str(b, "operator", r.Operator)
	b = num(b, "attempts", int64(r.Attempts))
	b = str(b, "last_error", r.LastError)
	return append(b, "\n    }"...)
}

// appendJSONString quotes s as encoding/json does (with its default HTML
// escaping, and invalid UTF-8 replaced by U+FFFD).
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 || r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			switch r {
			case utf8.RuneError:
				b = append(b, `\ufffd`...)
			default:
				b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xF])
			}
			i += size
			start = i
			continue
		}
		i += size
	}
	return append(append(b, s[start:]...), '"')
}

// csvSafe keeps a spreadsheet from running a free-text cell (subject,
// operator, error) as a formula, e.g. a subject typed as "=HYPERLINK(...)":
// such cells get a leading quote. Identifiers are written as they are.
func csvSafe(s string) string {
	if s != "" && (s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@' || s[0] == '\t' || s[0] == '\r') {
		return "'" + s
	}
	return s
}

// ExportCSV writes the orders matching f (newest first) as CSV with a
// header row; amounts as yuan ("12.50") and cents, times as RFC 3339. It
// streams: memory stays flat whatever the range.
func (db *DB) ExportCSV(w io.Writer, f Filter) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(csvHeader); err != nil {
		return fmt.Errorf("storage: export csv: %w", err)
	}
	for o, err := range db.Orders(f) {
		if err != nil {
			return err
		}
		r := exportRow(o)
		rec := []string{r.ClientSN, strconv.FormatUint(r.Seq, 10), r.CreatedAt, r.UpdatedAt,
			r.Gateway, r.Channel, r.State, strconv.FormatBool(r.Final),
			r.GatewayStatus, r.SN, r.TradeNo, r.Amount,
			strconv.FormatInt(r.AmountCents, 10), r.Refunded, strconv.FormatInt(r.RefundedCents, 10),
			csvSafe(r.Subject), csvSafe(r.Operator), strconv.Itoa(r.Attempts), csvSafe(r.LastError)}
		if err := cw.Write(rec); err != nil {
			return fmt.Errorf("storage: export csv: %w", err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("storage: export csv: %w", err)
	}
	return nil
}

// Stats summarises the database for `posagent status`.
type Stats struct {
	Orders        int            `json:"orders"`
	Pending       int            `json:"pending"`
	ByState       map[string]int `json:"by_state"`
	LastSeq       uint64         `json:"last_seq"`
	Provisioned   bool           `json:"provisioned"`
	SchemaVersion int            `json:"schema_version"`
	FileSize      int64          `json:"file_size"`
	Commits       uint64         `json:"commits"`
	// Totals are the count and sums per state (orders in the database,
	// not the archived ones).
	Totals map[string]StateTotal `json:"totals"`
	// FirstOrder and LastOrder are the creation times of the oldest and
	// newest order in the database (zero when it holds none).
	FirstOrder time.Time `json:"first_order,omitzero"`
	LastOrder  time.Time `json:"last_order,omitzero"`
	// Archived counts the orders moved to archive files.
	Archived int `json:"archived,omitempty"`
	// CreatedAt is when this database file was created. After a corrupt
	// file was replaced the client_sn counter starts again, so a prefix
	// that includes it (or the new terminal_sn) keeps client_sn unique.
	CreatedAt time.Time `json:"created_at"`
	// MovedAside lists earlier corrupt files (<path>.corrupt-*) still next
	// to the database: a reminder that history may be in them.
	MovedAside []string `json:"moved_aside,omitempty"`
}

// Stats reports the counters kept with the orders (in the same
// transactions), the schema version and the file size. Its cost does not
// grow with the history: it reads the counters, the pending index and the
// two ends of the time-ordered orders.
func (db *DB) Stats() (Stats, error) {
	s := Stats{ByState: map[string]int{}, Totals: map[string]StateTotal{}, Commits: db.Commits()}
	err := db.view(func(tx *bolt.Tx) error {
		var err error
		if s.SchemaVersion, err = readSchemaVersion(tx); err != nil {
			return err
		}
		if s.LastSeq, err = lastSeq(tx); err != nil {
			return err
		}
		if raw := tx.Bucket(bucketMeta).Get(keyCreatedAt); raw != nil {
			if err := json.Unmarshal(raw, &s.CreatedAt); err != nil {
				return fmt.Errorf("storage: meta/created_at is unreadable: %w", err)
			}
		}
		s.Provisioned = tx.Bucket(bucketCreds).Get(keyCredsCurrent) != nil
		s.Pending = tx.Bucket(bucketOpen).Stats().KeyN
		s.Archived = int(archivedCount(tx))
		s.FileSize = tx.Size()
		c := tx.Bucket(bucketOrderRecs).Cursor()
		if k, _ := c.First(); k != nil {
			s.FirstOrder, _, _ = parseOrderKey(k)
		}
		if k, _ := c.Last(); k != nil {
			s.LastOrder, _, _ = parseOrderKey(k)
		}
		return tx.Bucket(bucketStats).ForEach(func(k, v []byte) error {
			if k[0] != 's' {
				return nil
			}
			state := string(k[1:])
			t, err := parseTotals(state, v)
			if err != nil {
				return err
			}
			s.Orders += int(t.count)
			s.ByState[state] = int(t.count)
			s.Totals[state] = StateTotal{Count: int(t.count), Amount: Yuan(t.amount), AmountCents: t.amount,
				Refunded: Yuan(t.refunded), RefundedCents: t.refunded}
			return nil
		})
	})
	if err != nil {
		return Stats{}, opError("stats", err)
	}
	if fi, err := os.Stat(db.path); err == nil {
		s.FileSize = fi.Size()
	}
	s.MovedAside, _ = filepath.Glob(globEscape(db.path) + ".corrupt-*")
	sort.Strings(s.MovedAside)
	return s, nil
}

// globEscape quotes the glob metacharacters of a path.
func globEscape(p string) string {
	out := make([]byte, 0, len(p))
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case '*', '?', '[', '\\':
			out = append(out, '\\')
		}
		out = append(out, p[i])
	}
	return string(out)
}
