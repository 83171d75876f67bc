package preview

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParse: whatever the bytes, Parse returns a page or a "preview:" error;
// it never panics. The seeds are the printer package's golden files.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("..", "testdata", "*.bin"))
	for _, name := range files {
		if data, err := os.ReadFile(name); err == nil {
			f.Add(data, strings.Contains(name, "_80"))
		}
	}
	f.Add(h("1B40 1C26 D6D0 0A 1D564200"), false)
	f.Fuzz(func(t *testing.T, data []byte, wide bool) {
		w := Width58
		if wide {
			w = Width80
		}
		p, err := Parse(data, Options{Width: w})
		if err != nil {
			if !strings.HasPrefix(err.Error(), "preview: ") {
				t.Fatalf("error without package name: %v", err)
			}
			return
		}
		if p.Image.Bounds().Dx() != w {
			t.Fatalf("image %v", p.Image.Bounds())
		}
	})
}
