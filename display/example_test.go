package display_test

import (
	"fmt"
	"image"
	"log"
	"os"
	"path/filepath"
	"time"

	"posagent/display"
)

// A payment screen rendered for a 128×64 OLED and for a 240×320 TFT.
func ExampleRender() {
	s := display.Screen{Kind: display.AwaitingPayment, AmountCents: 1250, QR: "https://qr.shouqianba.com/7895259238744512", Merchant: "Corner Cafe", Remaining: 4 * time.Minute}
	for _, o := range []display.Options{
		{Size: image.Pt(128, 64), Format: display.Mono},
		{Size: image.Pt(240, 320), Format: display.RGB565},
	} {
		img, err := display.Render(s, o)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%v %T\n", img.Bounds().Size(), img)
	}
	// Output:
	// (128,64) *image1bit.VerticalLSB
	// (240,320) *image565.Image
}

// The demo's displays: the terminal and a PNG file side by side.
func ExampleMulti() {
	dir, err := os.MkdirTemp("", "display")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	png, err := display.Open(display.Config{Driver: "png", Path: filepath.Join(dir, "frame.png")})
	if err != nil {
		log.Fatal(err)
	}
	term, err := display.Open(display.Config{Driver: "term", Plain: true})
	if err != nil {
		log.Fatal(err)
	}
	d := display.Multi{term, png}
	defer d.Close()
	if err := d.Show(display.Screen{Kind: display.Paid, AmountCents: 1250, OrderNo: "T1-00000042"}); err != nil {
		log.Fatal(err)
	}
}

func ExampleFormatAmount() {
	fmt.Println(display.FormatAmount(1250), display.FormatAmount(5))
	// Output: ¥12.50 ¥0.05
}
