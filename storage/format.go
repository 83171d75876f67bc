package storage

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// localTime shows a stored time in the terminal's zone for people; "-" when unset.
func localTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.In(time.Local).Format("2006-01-02 15:04:05")
}

// oneLine keeps a table row on one line whatever the subject contains.
func oneLine(s string, max int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > max {
		s = string(r[:max-1]) + "…"
	}
	return s
}

// WriteOrderTable writes orders as an aligned text table, one line per
// order, for `posagent orders list`.
func WriteOrderTable(w io.Writer, orders []Order) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "CLIENT_SN\tCREATED\tAMOUNT\tSTATE\tGATEWAY\tSTATUS\tSUBJECT")
	for _, o := range orders {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", o.ClientSN, localTime(o.CreatedAt), Yuan(o.AmountCents),
			o.State, o.Gateway, o.GatewayStatus, oneLine(o.Subject, 24))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("storage: write order table: %w", err)
	}
	return nil
}

// WriteOrderList writes the orders matching f as WriteOrderTable does, but
// streaming: rows are aligned in blocks of 256, so that a list of a whole
// history takes no more memory than one block.
func (db *DB) WriteOrderList(w io.Writer, f Filter) error {
	block := make([]Order, 0, 256)
	header := true
	flush := func() error {
		tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
		if header {
			fmt.Fprintln(tw, "CLIENT_SN\tCREATED\tAMOUNT\tSTATE\tGATEWAY\tSTATUS\tSUBJECT")
			header = false
		}
		for _, o := range block {
			fmt.Fprintf(tw, "%-16s\t%s\t%9s\t%-16s\t%-6s\t%-12s\t%s\n", o.ClientSN, localTime(o.CreatedAt), Yuan(o.AmountCents),
				o.State, o.Gateway, o.GatewayStatus, oneLine(o.Subject, 24))
		}
		block = block[:0]
		if err := tw.Flush(); err != nil {
			return fmt.Errorf("storage: write order list: %w", err)
		}
		return nil
	}
	for o, err := range db.Orders(f) {
		if err != nil {
			return err
		}
		if block = append(block, o); len(block) == cap(block) {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}

// WriteOrderDetail writes every field of one order and its history, for
// `posagent orders show CLIENT_SN`.
func WriteOrderDetail(w io.Writer, o Order) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(tw, "%s:\t%s\n", k, v) }
	row("client_sn", o.ClientSN)
	row("seq", fmt.Sprint(o.Seq))
	row("amount", Yuan(o.AmountCents)+" ("+fmt.Sprint(o.AmountCents)+" cents)")
	if o.RefundedCents != 0 {
		row("refunded", Yuan(o.RefundedCents))
	}
	if no, _ := PendingRefund(o); o.Final && no != "" {
		row("state", fmt.Sprintf("%s (final: false: refund %s not confirmed yet; the terminal keeps asking)", o.State, no))
	} else {
		row("state", fmt.Sprintf("%s (final: %t)", o.State, o.Final))
	}
	row("gateway", o.Gateway)
	row("gateway status", o.GatewayStatus)
	row("channel", o.Channel)
	row("sn", o.SN)
	row("trade_no", o.TradeNo)
	row("subject", oneLine(o.Subject, 64))
	row("operator", o.Operator)
	row("created", localTime(o.CreatedAt))
	row("updated", localTime(o.UpdatedAt))
	row("deadline", localTime(o.Deadline))
	row("next attempt", localTime(o.NextAttemptAt))
	row("attempts", fmt.Sprint(o.Attempts))
	row("last error", o.LastError)
	if len(o.History) > 0 {
		fmt.Fprintln(tw, "history:")
		for _, h := range o.History {
			fmt.Fprintf(tw, "  %s\t%s → %s\t%s\n", localTime(h.At), h.From, h.To, oneLine(h.Note, 80))
		}
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("storage: write order: %w", err)
	}
	return nil
}
