package display

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"os"
	"path/filepath"
	"sync"
)

// PNG writes the current frame to a file on every Show: for demos, docs and
// support tickets ("send me the picture"). The file is replaced atomically,
// so a viewer never reads half a frame.
type PNG struct {
	mu   sync.Mutex
	path string
	opts Options
	r    Renderer
}

// NewPNG returns a PNG display writing cfg.Path, by default a 320×240 colour
// picture (cfg.Mono for the 1-bit one).
func NewPNG(cfg Config) (*PNG, error) {
	if cfg.Path == "" {
		return nil, errors.New("display: png driver needs a file path")
	}
	size := image.Pt(320, 240)
	if cfg.Width != 0 || cfg.Height != 0 {
		size = image.Pt(cfg.Width, cfg.Height)
	}
	f := RGB565
	if cfg.Mono {
		f = Mono
	}
	p := &PNG{path: cfg.Path, opts: Options{Size: size, Format: f, CountdownStep: cfg.CountdownStep, Locale: cfg.Locale, TimeZone: cfg.TimeZone}}
	// Catch a bad size now rather than on the first sale.
	if _, err := p.r.Render(Screen{}, p.opts); err != nil {
		return nil, err
	}
	return p, nil
}

// Show implements Display.
func (p *PNG) Show(s Screen) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	img, rerr := p.r.Render(s, p.opts)
	if img == nil {
		return rerr
	}
	var b bytes.Buffer
	if err := EncodePNG(&b, img); err != nil {
		return fmt.Errorf("display: png: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(p.path), ".frame-*.png")
	if err != nil {
		return fmt.Errorf("display: png: %w", err)
	}
	_, err = tmp.Write(b.Bytes())
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), p.path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("display: png: %w", err)
	}
	return rerr
}

// Close implements Display. The last frame stays in the file.
func (p *PNG) Close() error { return nil }
