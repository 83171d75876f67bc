// Command screens renders every sample screen for every supported panel and
// every locale (zh-CN, zh-HK, en) into docs/screens/<locale>/, with one
// contact sheet per locale (all screens on one picture): the pictures the
// docs show and the golden files the display tests check.
//
//	make screens                            # the same as:
//	go run ./display/cmd/screens            # writes docs/screens
//	go run ./display/cmd/screens -out DIR
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"posagent/display"
)

func main() {
	out := flag.String("out", "docs/screens", "directory to write the PNG files and README.md into")
	flag.Parse()
	if err := display.WriteScreens(*out); err != nil {
		fmt.Fprintln(os.Stderr, "screens:", err)
		os.Exit(1)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "wrote %s\n", filepath.Clean(*out))
	os.Stdout.Write(b.Bytes())
}
