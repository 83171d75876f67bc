package keypad

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"go.bug.st/serial"
	"go.bug.st/serial/enumerator"
)

// EventKind says what an [Event] reports.
type EventKind uint8

const (
	// EventKey: a key was pressed (Event.Key).
	EventKey EventKind = iota + 1
	// EventConnected: the port is open and keys can arrive (Event.Port).
	EventConnected
	// EventDisconnected: the port was lost or could not be opened
	// (Event.Err). The display should say "keypad unplugged". Sent once per
	// loss, not for every failed retry.
	EventDisconnected
	// EventReconnecting: the next attempt to open the port is in
	// Event.Delay (Event.Attempt counts failures in a row, Event.Err is the
	// last one).
	EventReconnecting
)

func (k EventKind) String() string {
	switch k {
	case EventKey:
		return "key"
	case EventConnected:
		return "connected"
	case EventDisconnected:
		return "disconnected"
	case EventReconnecting:
		return "reconnecting"
	}
	return fmt.Sprintf("EventKind(%d)", uint8(k))
}

// Event is what a [Source] delivers: a key, or a change of the port's state.
// Keys and state changes come on one channel so that their order is kept.
type Event struct {
	Kind    EventKind
	Key     Key           // EventKey
	Port    string        // the device, e.g. /dev/ttyUSB0 (all kinds but EventKey)
	Err     error         // EventDisconnected, EventReconnecting
	Delay   time.Duration // EventReconnecting
	Attempt int           // EventReconnecting: 1 for the first retry
}

func (e Event) String() string {
	switch e.Kind {
	case EventKey:
		return "key " + e.Key.String()
	case EventConnected:
		return "connected " + e.Port
	case EventDisconnected:
		return fmt.Sprintf("disconnected %s: %v", e.Port, e.Err)
	case EventReconnecting:
		return fmt.Sprintf("reconnecting %s in %v (attempt %d): %v", e.Port, e.Delay, e.Attempt, e.Err)
	}
	return e.Kind.String()
}

// Options configures a [Source]. Only Port (or VID) is required for a serial
// keypad; the rest has field-tested defaults.
type Options struct {
	// Port is the serial device. Prefer a stable /dev/serial/by-id/... link
	// over /dev/ttyUSB0, whose number changes when the adapter re-enumerates.
	Port string
	// VID and PID (hex, as in `lsusb`: "0403", "6001") and optionally
	// SerialNumber find a USB adapter wherever it re-enumerates; they take
	// precedence over Port when set.
	VID, PID, SerialNumber string
	// Baud is the keypad's speed; 0 means 9600, what most keypads ship with.
	// A wrong speed shows up as keys that never arrive and a rising
	// Decoder.Dropped count.
	Baud int
	// ReadTimeout bounds each serial read, so that the reading goroutine
	// wakes up regularly even on a driver whose Close does not interrupt a
	// blocked read; 0 means 1s. The (0, nil) read it causes is not an error.
	ReadTimeout time.Duration
	// SeqTimeout is how long an ambiguous prefix (a lone ESC: Cancel, or
	// the start of ESC O M?) waits for its next byte before it is decided;
	// 0 means 50ms. Bytes of one key press arrive well within 2ms at 9600 baud.
	SeqTimeout time.Duration
	// Keymap decodes the bytes; nil means DefaultKeymap().
	Keymap *Keymap
	// BackoffMin and BackoffMax bound the wait between reopen attempts,
	// doubling from min to max; 0 means 250ms and 10s.
	BackoffMin, BackoffMax time.Duration
	// Logger receives connection changes; nil discards them. Keys are not
	// logged.
	Logger *slog.Logger

	// Open replaces opening Port, for tests (e.g. a pseudo-terminal opened
	// with OpenSerial) and for unusual transports. It is called again after
	// every failure.
	Open func(ctx context.Context) (io.ReadCloser, error)
	// After replaces time.After for the backoff and SeqTimeout waits, so
	// that tests run on a fake clock.
	After func(time.Duration) <-chan time.Time
}

// Source reads a keypad and delivers its keys and state as [Event]s. Make
// one with [NewSerial] or [NewReader], then call Run.
type Source struct {
	opts   Options
	name   string
	open   func(ctx context.Context) (io.ReadCloser, string, error)
	reader bool // an io.Reader given by the caller: read once, never closed or reopened
}

func (o *Options) setDefaults() error {
	if o.Baud == 0 {
		o.Baud = 9600
	}
	if o.Baud < 0 {
		return fmt.Errorf("keypad: Options.Baud is %d; want the keypad's speed, e.g. 9600", o.Baud)
	}
	if o.ReadTimeout == 0 {
		o.ReadTimeout = time.Second
	}
	if o.ReadTimeout < 0 {
		o.ReadTimeout = serial.NoTimeout
	}
	if o.SeqTimeout <= 0 {
		o.SeqTimeout = 50 * time.Millisecond
	}
	if o.Keymap == nil {
		o.Keymap = DefaultKeymap()
	}
	if o.BackoffMin <= 0 {
		o.BackoffMin = 250 * time.Millisecond
	}
	if o.BackoffMax <= 0 {
		o.BackoffMax = 10 * time.Second
	}
	if o.BackoffMin > o.BackoffMax {
		return fmt.Errorf("keypad: Options.BackoffMin %v is above BackoffMax %v", o.BackoffMin, o.BackoffMax)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.After == nil {
		o.After = time.After
	}
	return nil
}

// NewSerial returns a source for a serial keypad. Run opens the port and
// keeps reopening it, with backoff, whenever it fails or is unplugged.
func NewSerial(opts Options) (*Source, error) {
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	s := &Source{opts: opts, name: opts.Port}
	switch {
	case opts.Open != nil:
		if s.name == "" {
			s.name = "keypad"
		}
		s.open = func(ctx context.Context) (io.ReadCloser, string, error) {
			rc, err := opts.Open(ctx)
			return rc, s.name, err
		}
	case opts.VID != "":
		s.name = "usb " + opts.VID + ":" + opts.PID
		s.open = func(context.Context) (io.ReadCloser, string, error) {
			list, err := enumerator.GetDetailedPortsList()
			if err != nil {
				return nil, s.name, fmt.Errorf("keypad: listing serial ports: %w", err)
			}
			name, err := findUSB(list, opts.VID, opts.PID, opts.SerialNumber)
			if err != nil {
				return nil, s.name, err
			}
			p, err := OpenSerial(name, opts.Baud, opts.ReadTimeout)
			return p, name, err
		}
	case opts.Port != "":
		s.open = func(context.Context) (io.ReadCloser, string, error) {
			p, err := OpenSerial(opts.Port, opts.Baud, opts.ReadTimeout)
			return p, opts.Port, err
		}
	default:
		return nil, errors.New("keypad: Options.Port is empty; set it to the keypad's device (ls /dev/serial/by-id/), or set VID/PID")
	}
	return s, nil
}

// NewReader returns a source reading r, typically os.Stdin: the demo, or a
// USB keypad that acts as a keyboard. Only Keymap, SeqTimeout, Logger and
// After of opts are used. Run returns nil at io.EOF, after deciding any
// buffered bytes. r is never closed; a read blocked in r when ctx ends stays
// blocked until r returns (os.Stdin cannot be interrupted).
//
// A terminal in its usual line mode delivers a line at a time when Enter is
// pressed ("12.50\n"), which decodes to the same keys as a keypad; call
// [KeysFromTerminal] first to get each key as it is pressed.
func NewReader(r io.Reader, opts Options) *Source {
	opts.Port = "stdin"
	_ = opts.setDefaults() // only the serial fields can be invalid
	used := false
	return &Source{
		opts:   opts,
		name:   "stdin",
		reader: true,
		open: func(context.Context) (io.ReadCloser, string, error) {
			if used {
				return nil, "stdin", io.EOF
			}
			used = true
			return io.NopCloser(r), "stdin", nil
		},
	}
}

// OpenSerial opens a serial port the way a keypad needs it: raw 8N1 at baud,
// with reads that return (0, nil) after readTimeout (negative: never). The
// errors say how to fix the usual causes.
func OpenSerial(name string, baud int, readTimeout time.Duration) (serial.Port, error) {
	p, err := serial.Open(name, &serial.Mode{BaudRate: baud, DataBits: 8, Parity: serial.NoParity, StopBits: serial.OneStopBit})
	if err != nil {
		var pe *serial.PortError
		if errors.As(err, &pe) {
			switch pe.Code() {
			case serial.PermissionDenied:
				return nil, fmt.Errorf("keypad: open %s: %w (add the service user to the dialout group)", name, err)
			case serial.PortBusy:
				return nil, fmt.Errorf("keypad: open %s: %w (is a getty, ModemManager or another posagent using it?)", name, err)
			}
		}
		return nil, fmt.Errorf("keypad: open %s: %w (is the keypad plugged in? see ls /dev/serial/by-id/)", name, err)
	}
	if readTimeout < 0 {
		readTimeout = serial.NoTimeout
	}
	if err := p.SetReadTimeout(readTimeout); err != nil {
		p.Close()
		return nil, fmt.Errorf("keypad: %s: set read timeout %v: %w", name, readTimeout, err)
	}
	return p, nil
}

// findUSB picks the port of the USB adapter with the given identity. VID and
// PID compare without case; an empty PID or serial number matches any.
func findUSB(list []*enumerator.PortDetails, vid, pid, serialNumber string) (string, error) {
	var found []string
	for _, p := range list {
		if p == nil || !p.IsUSB || !strings.EqualFold(p.VID, vid) {
			continue
		}
		if pid != "" && !strings.EqualFold(p.PID, pid) {
			continue
		}
		if serialNumber != "" && p.SerialNumber != serialNumber {
			continue
		}
		found = append(found, p.Name)
	}
	switch len(found) {
	case 0:
		return "", fmt.Errorf("keypad: no USB serial port with VID %s PID %s serial %q (is the keypad plugged in? see lsusb)", vid, pid, serialNumber)
	case 1:
		return found[0], nil
	}
	return "", fmt.Errorf("keypad: %d USB serial ports match VID %s PID %s (%s): set SerialNumber to choose one", len(found), vid, pid, strings.Join(found, ", "))
}

// Run reads keys until ctx is done, sending them and the port's state changes
// to out. It never gives up on a serial port: errors are reported as events
// and the port is reopened with exponential backoff. It returns ctx.Err(),
// or for a [NewReader] source nil at EOF or the read error.
//
// Sends on out block: a consumer that stops reading stops the keypad, it
// does not lose keys. Run must not be called twice at the same time.
func (s *Source) Run(ctx context.Context, out chan<- Event) error {
	log := s.opts.Logger
	dec := NewDecoder(s.opts.Keymap)
	failures := 0
	reported := false // a Disconnected event was sent for the current outage
	for {
		rc, name, err := s.open(ctx)
		if err == nil && rc == nil {
			err = errors.New("keypad: Options.Open returned neither a port nor an error")
		}
		if err == nil {
			log.Info("keypad connected", "port", name)
			reported = false
			if !s.send(ctx, out, Event{Kind: EventConnected, Port: name}) {
				rc.Close()
				return ctx.Err()
			}
			var gotData bool
			gotData, err = s.serve(ctx, rc, name, dec, out)
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if s.reader {
				if errors.Is(err, io.EOF) {
					s.send(ctx, out, Event{Kind: EventDisconnected, Port: name, Err: io.EOF})
					return nil
				}
				s.send(ctx, out, Event{Kind: EventDisconnected, Port: name, Err: err})
				return err
			}
			if gotData {
				// Only a connection that worked resets the backoff: a port
				// that opens and fails at once (a half-broken cable) must
				// not be hammered at the minimum delay.
				failures = 0
			}
		} else if s.reader {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if !reported {
			log.Warn("keypad disconnected", "port", name, "err", err)
			if !s.send(ctx, out, Event{Kind: EventDisconnected, Port: name, Err: err}) {
				return ctx.Err()
			}
			reported = true
		}
		failures++
		delay := backoff(s.opts.BackoffMin, s.opts.BackoffMax, failures)
		log.Debug("keypad reconnecting", "port", name, "in", delay, "attempt", failures, "err", err)
		if !s.send(ctx, out, Event{Kind: EventReconnecting, Port: name, Err: err, Delay: delay, Attempt: failures}) {
			return ctx.Err()
		}
		select {
		case <-s.opts.After(delay):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// backoff returns min·2^(attempt-1), capped at max.
func backoff(min, max time.Duration, attempt int) time.Duration {
	d := min
	for i := 1; i < attempt && d < max; i++ {
		d *= 2
	}
	if d > max || d <= 0 {
		d = max
	}
	return d
}

type chunk struct {
	b   []byte
	err error
}

// serve reads one open port until it fails or ctx ends. It reports whether
// any byte arrived.
func (s *Source) serve(ctx context.Context, rc io.ReadCloser, name string, dec *Decoder, out chan<- Event) (gotData bool, err error) {
	dec.Reset() // half a sequence from the last connection means nothing now
	reads := make(chan chunk)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		readLoop(rc, reads, stop)
	}()
	defer func() {
		close(stop)
		rc.Close() // unblocks a serial Read; a no-op for NewReader
		if !s.reader {
			<-done
		}
	}()

	var keys []Key
	var flushC <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return gotData, ctx.Err()
		case <-flushC:
			flushC = nil
			keys = dec.Flush(keys[:0])
			if !s.sendKeys(ctx, out, keys) {
				return gotData, ctx.Err()
			}
		case c := <-reads:
			if len(c.b) > 0 {
				gotData = true
				keys = dec.Feed(keys[:0], c.b)
				flushC = nil
				if dec.Pending() {
					flushC = s.opts.After(s.opts.SeqTimeout)
				}
				if !s.sendKeys(ctx, out, keys) {
					return gotData, ctx.Err()
				}
			}
			if c.err != nil {
				if s.reader && errors.Is(c.err, io.EOF) {
					// End of input decides what is pending: "q" without a
					// newline at the end of a script still quits.
					if !s.sendKeys(ctx, out, dec.Flush(keys[:0])) {
						return gotData, ctx.Err()
					}
					return gotData, io.EOF
				}
				if n := dec.Buffered(); n > 0 {
					log := s.opts.Logger
					log.Debug("keypad: dropping a partial sequence at disconnect", "port", name, "bytes", n)
				}
				var pe *serial.PortError
				if errors.As(c.err, &pe) && pe.Code() == serial.PortClosed {
					return gotData, fmt.Errorf("keypad: read %s: %w (keypad unplugged?)", name, c.err)
				}
				return gotData, fmt.Errorf("keypad: read %s: %w", name, c.err)
			}
		}
	}
}

// readLoop reads rc into reads until an error or stop. It owns the read
// buffer and sends copies, so the decoder never sees a buffer being reused.
func readLoop(rc io.Reader, reads chan<- chunk, stop <-chan struct{}) {
	buf := make([]byte, 256)
	for {
		n, err := rc.Read(buf)
		if n == 0 && err == nil {
			// go.bug.st/serial's read timeout expired: the port is alive
			// and idle. This is not EOF; bufio and io.ReadFull would spin
			// or stall here. Look at stop and read again.
			select {
			case <-stop:
				return
			default:
				continue
			}
		}
		c := chunk{err: err}
		if n > 0 {
			c.b = append([]byte(nil), buf[:n]...)
		}
		select {
		case reads <- c:
		case <-stop:
			return
		}
		if err != nil {
			return
		}
	}
}

func (s *Source) sendKeys(ctx context.Context, out chan<- Event, keys []Key) bool {
	for _, k := range keys {
		if !s.send(ctx, out, Event{Kind: EventKey, Key: k}) {
			return false
		}
	}
	return true
}

func (s *Source) send(ctx context.Context, out chan<- Event, ev Event) bool {
	select {
	case out <- ev:
		return true
	case <-ctx.Done():
		return false
	}
}
