//go:build tools

// This file pins, in go.mod, the libraries the open issues call for before
// any package imports them (cobra for the CLI, client_golang for metrics,
// x/crypto for PIN hashing, x/image for CJK text), so that go.mod has one
// owner while the packages that use them are written. It is never built.
package main

import (
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/prometheus/client_golang/prometheus/promhttp"
	_ "github.com/prometheus/common/expfmt"
	_ "github.com/spf13/cobra"
	_ "github.com/spf13/cobra/doc"
	_ "golang.org/x/crypto/argon2"
	_ "golang.org/x/image/font/opentype"
	_ "golang.org/x/image/font/sfnt"
)
