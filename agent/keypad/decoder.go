package keypad

// Decoder turns a keypad's byte stream into keys.
//
// It is a small streaming matcher over a [Keymap]:
//
//   - bytes are kept while they are the start of a longer bound sequence, so
//     a sequence split across two reads decodes the same as one read;
//   - a complete sequence that nothing longer starts with is reported at once,
//     and so is one whose longer sequences all mean the same key (CR, whose
//     CR LF is Enter too): the rest of the longer sequence is swallowed if
//     it follows, so a CR-only keypad never waits and a CR LF one gives one
//     Enter;
//   - when the buffered bytes can no longer grow into a bound sequence, the
//     longest bound sequence they start with is reported and the rest is
//     decoded again; if none, the first byte is dropped as noise. This is how
//     the decoder resynchronises after garbage;
//   - VT100 control sequences it does not know (ESC [ ... final byte, ESC O x:
//     arrow and function keys of a USB keypad) are skipped whole rather than
//     read as a Cancel followed by letters.
//
// Its buffer is a fixed array of [MaxSeqLen] bytes: no input can make it grow.
// The result depends only on the bytes fed, never on how they were split
// (FuzzDecoder checks this), except where [Decoder.Flush] is called.
//
// A Decoder is not safe for concurrent use.
type Decoder struct {
	km      *Keymap
	buf     [MaxSeqLen]byte
	n       int       // bytes in buf
	skip    skipState // inside an unknown control sequence
	skipped int       // bytes skipped in the current control sequence
	dropped uint64
	// tail is the sequence of the key last reported eagerly (CR): the next
	// bytes are swallowed while they grow it into a longer sequence of the
	// same key (CR LF).
	tail  [MaxSeqLen]byte
	tailN int
}

type skipState uint8

const (
	skipNone skipState = iota
	skipCSI            // ESC [ seen: skip parameter/intermediate bytes up to the final byte
	skipSS3            // ESC O seen: skip one more byte
)

// maxCSI bounds how many bytes of an unknown control sequence are skipped:
// real ones are under 16 bytes; past this, it is line noise and decoding
// resumes.
const maxCSI = 32

// NewDecoder returns a decoder for km, or for [DefaultKeymap] if km is nil.
func NewDecoder(km *Keymap) *Decoder {
	if km == nil {
		km = DefaultKeymap()
	}
	return &Decoder{km: km}
}

// Feed decodes p and appends the keys it completes to dst, like append.
// Bytes that may still be the start of a sequence stay buffered for the next
// Feed or Flush.
func (d *Decoder) Feed(dst []Key, p []byte) []Key {
	for _, b := range p {
		dst = d.feedByte(dst, b)
	}
	return dst
}

// Flush decides what the buffered bytes mean now, without waiting for more:
// a lone ESC becomes Cancel, a lone CR becomes Enter, an incomplete unknown
// control sequence is dropped. Call it when the keypad has been quiet for a
// short time ([Source] does, after Options.SeqTimeout).
func (d *Decoder) Flush(dst []Key) []Key {
	dst = d.settle(dst, true)
	d.skip, d.skipped = skipNone, 0
	return dst
}

// Pending reports whether the decoder holds bytes whose meaning depends on
// what comes next (or on a Flush): the caller should arm its quiet-time timer.
func (d *Decoder) Pending() bool { return d.n > 0 || d.skip != skipNone }

// Buffered returns how many bytes are held; never more than [MaxSeqLen].
func (d *Decoder) Buffered() int { return d.n }

// Dropped returns how many bytes were discarded as noise or as unknown
// control sequences since the decoder was made. A fast-rising count means a
// wrong baud rate or a bad cable.
func (d *Decoder) Dropped() uint64 { return d.dropped }

// Reset forgets buffered bytes, e.g. after the port was reopened.
func (d *Decoder) Reset() {
	d.dropped += uint64(d.n)
	d.n, d.skip, d.skipped, d.tailN = 0, skipNone, 0, 0
}

func (d *Decoder) feedByte(dst []Key, b byte) []Key {
	if d.skip != skipNone && d.skipByte(b) {
		return dst
	}
	if d.tailN > 0 {
		if d.swallow(b) {
			return dst
		}
	}
	if d.n == len(d.buf) {
		// Cannot happen while the keymap's sequences fit in MaxSeqLen (settle
		// never leaves a full buffer), but a keymap changed under a running
		// decoder must not make it index out of range.
		dst = d.settle(dst, true)
	}
	d.buf[d.n] = b
	d.n++
	return d.settle(dst, false)
}

// settle resolves the buffer as far as the bytes allow. With force it also
// resolves bytes that could still grow into a longer sequence.
func (d *Decoder) settle(dst []Key, force bool) []Key {
	for d.n > 0 {
		cur := d.buf[:d.n]
		if !force && d.km.isPrefix(cur) && !d.km.isEager(cur) {
			return dst // wait: more bytes may make a longer sequence
		}
		if k, ok := d.km.Lookup(cur); ok {
			if d.km.isPrefix(cur) {
				d.tailN = copy(d.tail[:], cur)
			}
			d.n = 0
			return append(dst, k)
		}
		// Dead end: cur is not a key and cannot become one.
		used := 0
		for i := d.n - 1; i > 0; i-- {
			if k, ok := d.km.Lookup(cur[:i]); ok {
				// A control sequence we do not know starts with ESC: skip it
				// whole instead of reading its ESC as Cancel.
				if i == 1 && cur[0] == esc && d.n >= 2 && (cur[1] == '[' || cur[1] == 'O') {
					break
				}
				dst = append(dst, k)
				used = i
				break
			}
		}
		if used == 0 {
			used = d.skipControl(cur, force)
		}
		// Decode the rest again from an empty buffer. It is shorter than cur,
		// so this recursion is at most MaxSeqLen deep.
		var rest [MaxSeqLen]byte
		m := copy(rest[:], cur[used:])
		d.n = 0
		for _, b := range rest[:m] {
			dst = d.feedByte(dst, b)
		}
		if !force {
			return dst
		}
	}
	return dst
}

// swallow consumes b if it continues the sequence of the key just reported
// eagerly into a longer one of the same key (the LF of CR LF).
func (d *Decoder) swallow(b byte) bool {
	tail := d.tail[:d.tailN]
	d.tailN = 0
	if len(tail) >= MaxSeqLen {
		return false
	}
	var seq [MaxSeqLen]byte
	n := copy(seq[:], tail)
	seq[n] = b
	cand := seq[:n+1]
	was, _ := d.km.Lookup(tail)
	if k, ok := d.km.Lookup(cand); !ok || k != was {
		return false
	}
	if d.km.isPrefix(cand) {
		d.tailN = copy(d.tail[:], cand)
	}
	return true
}

// skipControl handles a dead end that matched no key: if cur starts an ECMA-48
// control sequence (ESC [ params final, or ESC O x) it returns how many bytes
// of cur the sequence covers, entering a skip state if the sequence goes on
// past cur; otherwise it drops the first byte as noise. It returns at least 1.
func (d *Decoder) skipControl(cur []byte, force bool) int {
	if len(cur) < 2 || cur[0] != esc || (cur[1] != '[' && cur[1] != 'O') {
		d.dropped++
		return 1
	}
	if cur[1] == 'O' {
		if len(cur) >= 3 {
			d.dropped += 3
			return 3
		}
		if !force {
			d.skip = skipSS3
		}
		d.dropped += 2
		return 2
	}
	for i := 2; i < len(cur); i++ {
		switch c := cur[i]; {
		case c >= 0x20 && c <= 0x3f: // parameter or intermediate byte
		case c >= 0x40 && c <= 0x7e: // final byte: the sequence ends here
			d.dropped += uint64(i + 1)
			return i + 1
		default: // not part of a control sequence: a broken one, resume at c
			d.dropped += uint64(i)
			return i
		}
	}
	if !force {
		d.skip, d.skipped = skipCSI, len(cur)
	}
	d.dropped += uint64(len(cur))
	return len(cur)
}

// skipByte consumes b if it belongs to the control sequence being skipped.
func (d *Decoder) skipByte(b byte) bool {
	switch d.skip {
	case skipSS3:
		d.skip = skipNone
		if b >= 0x20 && b <= 0x7e {
			d.dropped++
			return true
		}
		return false
	case skipCSI:
		switch {
		case b >= 0x20 && b <= 0x3f:
			d.skipped++
			d.dropped++
			if d.skipped >= maxCSI {
				d.skip, d.skipped = skipNone, 0
			}
			return true
		case b >= 0x40 && b <= 0x7e:
			d.skip, d.skipped = skipNone, 0
			d.dropped++
			return true
		}
		d.skip, d.skipped = skipNone, 0
		return false
	}
	return false
}
