package printer_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"posagent/printer"
	"posagent/printer/preview"
)

// The sale engine hands jobs to a Spooler and goes on; events say what
// became of them. The file driver (used by the demo) appends the raw bytes,
// which package preview turns into a PNG.
func ExampleSpooler() {
	dir, _ := os.MkdirTemp("", "printer")
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, "printer.bin")

	p, err := printer.Open(printer.Config{Driver: "file", Device: out, PaperMM: 58})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer p.Close()

	events := make(chan printer.Event, 8)
	sp := printer.NewSpooler(p, printer.SpoolOptions{OnEvent: func(e printer.Event) { events <- e }})
	defer sp.Close()

	err = sp.Submit(printer.Job{ID: "7100012345", Receipt: &printer.Receipt{
		Kind: printer.Paid, Merchant: "Corner Cafe", AmountCents: 1250,
		At: time.Date(2026, 11, 25, 3, 0, 0, 0, time.UTC), ClientSN: "7100012345", Channel: "Alipay",
	}})
	fmt.Println("submitted:", err)
	e := <-events
	fmt.Println(e.JobID, e.Kind)

	data, _ := os.ReadFile(out)
	page, err := preview.Parse(data, preview.Options{Width: preview.Width58})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(page.Texts()[1], "/", page.Texts()[3])

	st, err := p.Status(context.Background())
	fmt.Println("status:", st, err)
	// Output:
	// submitted: <nil>
	// 7100012345 printed
	// PAID / Amount                    ¥12.50
	// status: unknown (not asked) <nil>
}
