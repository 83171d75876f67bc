package display

import (
	"bytes"
	"flag"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite docs/screens from the current renderer")

const screensDir = "../docs/screens"

// TestScreensGolden checks docs/screens. The files are not trusted as a
// recording: every payment screen in them is decoded with gozxing and must
// give the payload back, and every monochrome one must be pure black and
// white. Then the renderer must still produce them byte for byte, so the docs
// never drift from what the panels show. Run with -update (or
// `go run ./display/cmd/screens`) after a deliberate change.
func TestScreensGolden(t *testing.T) {
	if *update {
		if err := WriteScreens(screensDir); err != nil {
			t.Fatal(err)
		}
	}
	want, err := RenderScreens()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range Panels {
		for _, s := range Samples() {
			name := ScreenFile(p, s)
			got, err := os.ReadFile(filepath.Join(screensDir, name))
			if err != nil {
				t.Errorf("%s: %v (run go run ./display/cmd/screens)", name, err)
				continue
			}
			img, err := png.Decode(bytes.NewReader(got))
			if err != nil {
				t.Errorf("%s: %v", name, err)
				continue
			}
			if img.Bounds().Size() != p.Size {
				t.Errorf("%s is %v, panel is %v", name, img.Bounds().Size(), p.Size)
			}
			if s.Kind == AwaitingPayment {
				if text := decodeQR(t, img); text != s.QR {
					t.Errorf("%s decodes to %q", name, text)
				}
			}
			if p.Format == Mono {
				if g, ok := img.(*image.Gray); !ok {
					t.Errorf("%s is %T, want 8-bit grey", name, img)
				} else {
					for _, v := range g.Pix {
						if v != 0 && v != 0xff {
							t.Errorf("%s has grey level %d: not a 1-bit picture", name, v)
							break
						}
					}
				}
			}
			if !bytes.Equal(got, want[name]) {
				t.Errorf("%s is stale: run go run ./display/cmd/screens", name)
			}
		}
	}
	idx, err := os.ReadFile(filepath.Join(screensDir, "README.md"))
	if err != nil || string(idx) != screensIndex() {
		t.Errorf("docs/screens/README.md is stale or missing (%v)", err)
	}
	for _, p := range Panels {
		if !strings.Contains(string(idx), p.Name) {
			t.Errorf("index lacks %s", p.Name)
		}
	}
}
