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

	"posagent/display/locale"
)

var update = flag.Bool("update", false, "rewrite docs/screens from the current renderer")

const screensDir = "../docs/screens"

// TestScreensGolden checks docs/screens, a golden picture per panel, locale
// and screen. The files are not trusted as a recording: every payment
// screen in them is decoded with gozxing after the camera simulation and
// must give the payload back, and every monochrome one must be pure black
// and white. Then the renderer must still produce them byte for byte, so
// the docs never drift from what the panels show. Run with -update (or
// `make screens`) after a deliberate change.
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
	for _, tag := range locale.Tags {
		for _, p := range Panels {
			for _, s := range SamplesFor(tag) {
				name := ScreenFile(tag, p, s)
				got, err := os.ReadFile(filepath.Join(screensDir, name))
				if err != nil {
					t.Errorf("%s: %v (run make screens)", name, err)
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
					if text, err := scan(img, 3); err != nil || text != s.QR {
						t.Errorf("%s decodes through the camera to %q, %v", name, text, err)
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
					t.Errorf("%s is stale: run make screens", name)
				}
			}
		}
		sheet, err := os.ReadFile(filepath.Join(screensDir, SheetFile(tag)))
		if err != nil || !bytes.Equal(sheet, want[SheetFile(tag)]) {
			t.Errorf("%s is stale or missing (%v): run make screens", SheetFile(tag), err)
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
	// Nothing else lies around in docs/screens.
	stale, _ := filepath.Glob(filepath.Join(screensDir, "*.png"))
	more, _ := filepath.Glob(filepath.Join(screensDir, "*", "*.png"))
	for _, f := range append(stale, more...) {
		rel, _ := filepath.Rel(screensDir, f)
		if _, ok := want[filepath.ToSlash(rel)]; !ok {
			t.Errorf("%s is not made any more: run make screens", rel)
		}
	}
}
