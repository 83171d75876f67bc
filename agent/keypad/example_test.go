package keypad_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"posagent/agent/keypad"
)

// A cashier types 12.5 and Enter; a refused key leaves a reason to show.
func ExampleEntry() {
	entry, err := keypad.NewEntry(keypad.EntryOptions{Max: 500000}) // ¥5000.00
	if err != nil {
		panic(err)
	}
	dec := keypad.NewDecoder(nil)
	keys := dec.Feed(nil, []byte("1.234"))
	for _, k := range keys {
		if _, _, err := entry.Press(k); err != nil {
			fmt.Printf("%q refused: %s\n", entry.Text(), entry.Message())
		}
	}
	for _, k := range dec.Feed(nil, []byte("\x7f5\r\n")) {
		cents, done, err := entry.Press(k)
		if done {
			fmt.Println("charge", cents, "cents")
		}
		if err != nil {
			fmt.Println(err)
		}
	}
	// Output:
	// "1.23" refused: at most 2 decimals
	// charge 125 cents
}

func ExampleDecoder() {
	dec := keypad.NewDecoder(keypad.DefaultKeymap())
	var keys []keypad.Key
	// Noise, an arrow key, a numpad Enter split across two reads, a lone ESC.
	keys = dec.Feed(keys, []byte("\xff9\x1b[A\x1bO"))
	keys = dec.Feed(keys, []byte("M\x1b"))
	fmt.Println(keys, dec.Pending())
	keys = dec.Flush(keys) // the quiet time after the ESC has passed
	fmt.Println(keys, dec.Dropped())
	// Output:
	// [9 enter] true
	// [9 enter cancel] 4
}

func ExampleParseAmount() {
	for _, s := range []string{"12.5", "007", "1.234", "-3", "0"} {
		cents, err := keypad.ParseAmount(s)
		switch {
		case errors.Is(err, keypad.ErrDecimals):
			fmt.Println(s, "→ too precise:", err)
		case err != nil:
			fmt.Println(s, "→", err)
		default:
			fmt.Println(s, "→", cents, "cents =", keypad.FormatCents(cents))
		}
	}
	// Output:
	// 12.5 → 1250 cents = 12.50
	// 007 → 700 cents = 7.00
	// 1.234 → too precise: keypad: amount "1.234": at most 2 decimals
	// -3 → keypad: amount "-3": only digits and one '.' are allowed, like 12.50
	// 0 → keypad: amount "0": amount must be greater than 0
}

func ExampleParseKeymap() {
	// A USB numpad acting as a keyboard has no letters: use * for Cancel
	// and / for Clear, keep the digits, '.', Enter and Backspace.
	km, err := keypad.ParseKeymap(map[string][]string{
		"0": {"0"}, "1": {"1"}, "2": {"2"}, "3": {"3"}, "4": {"4"},
		"5": {"5"}, "6": {"6"}, "7": {"7"}, "8": {"8"}, "9": {"9"},
		"dot":       {".", `\eOn`},
		"enter":     {`\r`, `\n`, `\eOM`},
		"backspace": {`\x7f`, `\b`},
		"cancel":    {"*", `\eOj`},
		"clear":     {"/", `\eOo`},
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(keypad.NewDecoder(km).Feed(nil, []byte("42*/\r")))

	_, err = keypad.ParseKeymap(map[string][]string{"enter": {`\q`}})
	fmt.Println(err)
	// Output:
	// [4 2 cancel clear enter]
	// keypad: keymap entry "enter", sequence 1 ("\\q"): sequence "\\q": unknown escape \q (known: \e \xHH \r \n \t \b \0 \\)
}

// Wiring a serial keypad into the sale loop: keys drive the Entry, state
// events tell the cashier when the keypad is unplugged.
func ExampleNewSerial() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	src, err := keypad.NewSerial(keypad.Options{
		Port:   "/dev/serial/by-id/usb-FTDI_FT232R_USB_UART_A1-if00-port0",
		Baud:   9600,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, nil)),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	entry, _ := keypad.NewEntry(keypad.EntryOptions{Max: 500000})
	events := make(chan keypad.Event, 16)
	go src.Run(ctx, events)
	for ev := range events {
		switch ev.Kind {
		case keypad.EventKey:
			// The sale engine sees the key first: Cancel also aborts a
			// sale in progress, Refund and Menu open their screens.
			cents, done, err := entry.Press(ev.Key)
			switch {
			case done:
				fmt.Println("new order for", keypad.FormatCents(cents))
			case err != nil:
				fmt.Println("show:", entry.Message())
			default:
				fmt.Println("show:", entry.Text())
			}
		case keypad.EventDisconnected:
			fmt.Println("show: keypad unplugged")
		case keypad.EventConnected:
			fmt.Println("show:", entry.Text())
		}
	}
}
