package storage

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Yuan formats cents as yuan with two decimals: 1250 → "12.50", -5 → "-0.05".
func Yuan(cents int64) string {
	sign := ""
	u := uint64(cents)
	if cents < 0 {
		sign, u = "-", uint64(-(cents+1))+1 // no overflow at math.MinInt64
	}
	return fmt.Sprintf("%s%d.%02d", sign, u/100, u%100)
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
		Gateway: o.Gateway, Channel: o.Channel, State: o.State, Final: o.Final, GatewayStatus: o.GatewayStatus,
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
// state, for the merchant's end-of-day reconciliation.
func (db *DB) ExportJSON(w io.Writer, f Filter) error {
	orders, err := db.ListOrders(f)
	if err != nil {
		return err
	}
	doc := Export{
		GeneratedAt: rfc3339(db.now()), Since: rfc3339(f.Since), Until: rfc3339(f.Until),
		State: f.State, Count: len(orders), ByState: map[string]StateTotal{}, Orders: []ExportRow{},
	}
	for _, o := range orders {
		doc.Orders = append(doc.Orders, exportRow(o))
		t := doc.ByState[o.State]
		t.Count++
		t.AmountCents += o.AmountCents
		t.RefundedCents += o.RefundedCents
		t.Amount, t.Refunded = Yuan(t.AmountCents), Yuan(t.RefundedCents)
		doc.ByState[o.State] = t
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("storage: export json: %w", err)
	}
	return nil
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
// header row; amounts as yuan ("12.50") and cents, times as RFC 3339.
func (db *DB) ExportCSV(w io.Writer, f Filter) error {
	orders, err := db.ListOrders(f)
	if err != nil {
		return err
	}
	cw := csv.NewWriter(w)
	if err := cw.Write(csvHeader); err != nil {
		return fmt.Errorf("storage: export csv: %w", err)
	}
	for _, o := range orders {
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
	// CreatedAt is when this database file was created. After a corrupt
	// file was replaced the client_sn counter starts again, so a prefix
	// that includes it (or the new terminal_sn) keeps client_sn unique.
	CreatedAt time.Time `json:"created_at"`
	// MovedAside lists earlier corrupt files (<path>.corrupt-*) still next
	// to the database: a reminder that history may be in them.
	MovedAside []string `json:"moved_aside,omitempty"`
}

// Stats counts orders (total, pending, by state) and reports the schema
// version and file size. It reads every order.
func (db *DB) Stats() (Stats, error) {
	s := Stats{ByState: map[string]int{}, Commits: db.Commits()}
	err := db.bolt.View(func(tx *bolt.Tx) error {
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
		s.Pending = tx.Bucket(bucketPending).Stats().KeyN
		s.FileSize = tx.Size()
		return tx.Bucket(bucketOrders).ForEach(func(k, v []byte) error {
			var st struct {
				State string `json:"state"`
			}
			if err := json.Unmarshal(v, &st); err != nil {
				return fmt.Errorf("storage: order %q is unreadable: %w", k, err)
			}
			s.Orders++
			s.ByState[st.State]++
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
