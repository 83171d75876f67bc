package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fakeQEMU is a shell script with qemu-user's command line
// (-cpu CPU BINARY ARGS...) that behaves like the posagent builds would
// under emulation, as real processes: exit codes, output, and death by
// SIGILL for ARMv7 code on the ARM1176. FAKE_MODE bends one behaviour so
// each failure path of emucheck is exercised.
const fakeQEMU = `#!/bin/sh
ulimit -c 0
cpu=$2; bin=$3; cmd=$4
case "$bin" in
*armv6) plat="linux/arm GOARM=6";;
*armv7) plat="linux/arm GOARM=7"
	if [ "$cpu" = arm1176 ] && [ "$FAKE_MODE" != accepts-armv7 ]; then kill -ILL $$; fi;;
*arm64) plat="linux/arm64";;
esac
if [ "$FAKE_MODE" = wrong-platform ]; then plat="linux/arm GOARM=7"; fi
case "$cmd" in
version)
	echo "posagent 1.2.0 (commit abc1234) $plat go1.26.8";;
selftest)
	case "$FAKE_MODE" in
	sale-fails) echo "selftest: precreate: connection refused" >&2; exit 1;;
	no-paid) echo "sale done";;
	hang) exec sleep 60;;
	*) echo "selftest: order DEMO-1 PAID";;
	esac;;
*) echo "posagent: unknown command \"$cmd\"" >&2; exit 2;;
esac
`

// setup makes a PATH with the fake emulator under both qemu names and a
// dist directory with small files named like the builds.
func setup(t *testing.T) config {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	dist := filepath.Join(dir, "dist")
	os.MkdirAll(bin, 0o755)
	os.MkdirAll(dist, 0o755)
	for _, n := range []string{"qemu-arm-static", "qemu-aarch64-static"} {
		if err := os.WriteFile(filepath.Join(bin, n), []byte(fakeQEMU), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, b := range []string{"armv6", "armv7", "arm64"} {
		os.WriteFile(filepath.Join(dist, "posagent-linux-"+b), bytes.Repeat([]byte{0x7f}, 1000), 0o755)
	}
	emu, err := findQEMU(bin, false, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	return config{Dist: dist, Version: "1.2.0", Sale: "selftest", MaxSize: 15_000_000, Timeout: time.Minute, Emulators: emu}
}

func TestAllPass(t *testing.T) {
	cfg := setup(t)
	var out bytes.Buffer
	if failed := check(context.Background(), cfg, &out); failed != 0 {
		t.Fatalf("%d failures:\n%s", failed, out.String())
	}
	// Every run is reported: a size line per build, version and sale per
	// run, and the control.
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if want := 3 + 2*(len(runs)-1) + 1; len(lines) != want {
		t.Errorf("%d report lines, want %d:\n%s", len(lines), want, out.String())
	}
	for _, w := range []string{"armv6  arm1176", "selftest  selftest: order DEMO-1 PAID", "arm64  cortex-a76", "SIGILL"} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("report lacks %q:\n%s", w, out.String())
		}
	}
}

func TestEachFailureIsCaught(t *testing.T) {
	for _, tc := range []struct {
		mode, version string
		maxSize       int64
		wantFailed    int
		want          string
	}{
		// The control must fail when the "ARMv6" CPU runs ARMv7 code.
		{mode: "accepts-armv7", wantFailed: 1, want: "not an ARMv6"},
		// Every armv6 and arm64 version check (5 runs) names the wrong platform.
		{mode: "wrong-platform", wantFailed: 5, want: `does not name the platform "linux/arm GOARM=6"`},
		{mode: "sale-fails", wantFailed: 6, want: "connection refused"},
		{mode: "no-paid", wantFailed: 6, want: "no line says PAID"},
		{version: "9.9.9", wantFailed: 6, want: `stamped version "9.9.9"`},
		// Oversized builds fail once each (the runs themselves pass).
		{maxSize: 999, wantFailed: 3, want: "over the 999-byte target"},
	} {
		t.Run(tc.mode+tc.version, func(t *testing.T) {
			cfg := setup(t)
			t.Setenv("FAKE_MODE", tc.mode)
			if tc.version != "" {
				cfg.Version = tc.version
			}
			if tc.maxSize != 0 {
				cfg.MaxSize = tc.maxSize
			}
			var out bytes.Buffer
			failed := check(context.Background(), cfg, &out)
			if failed != tc.wantFailed || !strings.Contains(out.String(), tc.want) {
				t.Fatalf("failed=%d (want %d), report should say %q:\n%s", failed, tc.wantFailed, tc.want, out.String())
			}
		})
	}
}

func TestHangingSaleTimesOut(t *testing.T) {
	cfg := setup(t)
	t.Setenv("FAKE_MODE", "hang")
	cfg.Timeout = 200 * time.Millisecond // bounds the test, orders nothing
	var out bytes.Buffer
	if failed := check(context.Background(), cfg, &out); failed != 6 || !strings.Contains(out.String(), "timed out") {
		t.Fatalf("failed=%d, want 6 timeouts:\n%s", failed, out.String())
	}
}

func TestMissingEmulatorIsLoud(t *testing.T) {
	empty := t.TempDir()
	_, err := findQEMU(empty, false, os.Stderr)
	if err == nil || !strings.Contains(err.Error(), "qemu-arm-static") || !strings.Contains(err.Error(), "qemu-aarch64-static") {
		t.Fatalf("no QEMU in PATH: got %v", err)
	}
	var msg bytes.Buffer
	unavailable(&msg, err)
	if !strings.Contains(msg.String(), "EMULATION UNAVAILABLE") || !strings.Contains(msg.String(), "NOT run") {
		t.Fatalf("message is not loud enough:\n%s", msg.String())
	}

	// qemu-user's plain names are accepted; the -static ones preferred.
	dir := t.TempDir()
	for _, n := range []string{"qemu-arm", "qemu-arm-static", "qemu-aarch64"} {
		os.WriteFile(filepath.Join(dir, n), []byte("#!/bin/sh\n"), 0o755)
	}
	os.WriteFile(filepath.Join(dir, "qemu-aarch64-static"), []byte("not executable"), 0o644)
	emu, err := findQEMU(dir, false, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	if emu["arm"] != filepath.Join(dir, "qemu-arm-static") || emu["aarch64"] != filepath.Join(dir, "qemu-aarch64") {
		t.Fatalf("found %v", emu)
	}
}

// TestRealQEMUTellsARMv6FromARMv7 checks, with the real emulator where it
// is installed, the property the control run relies on: an ARM1176 runs a
// GOARM=6 build and kills a GOARM=7 build with SIGILL. `make emu-check`
// installs QEMU and runs the same control against posagent itself.
func TestRealQEMUTellsARMv6FromARMv7(t *testing.T) {
	emu, missing := lookQEMU(os.Getenv("PATH"))
	if len(missing) != 0 {
		t.Logf("QEMU not installed (%v): real-emulator check not run here; make emu-check installs and runs it", missing)
		return
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module hello\n\ngo 1.22\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "main.go"), []byte("package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(\"PAID\", 1.5*float64(len(\"ab\"))) }\n"), 0o644)
	build := func(goarm string) string {
		out := filepath.Join(dir, "hello-armv"+goarm)
		cmd := exec.Command("go", "build", "-trimpath", "-o", out, ".")
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=arm", "GOARM="+goarm, "GOFLAGS=-buildvcs=false")
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build GOARM=%s: %v\n%s", goarm, err, b)
		}
		return out
	}
	v6, v7 := build("6"), build("7")
	if err := checkSale(emulate(context.Background(), time.Minute, emu["arm"], "arm1176", v6)); err != nil {
		t.Errorf("GOARM=6 on arm1176: %v", err)
	}
	if err := expectSIGILL(emulate(context.Background(), time.Minute, emu["arm"], "arm1176", v7)); err != nil {
		t.Errorf("GOARM=7 on arm1176: %v", err)
	}
	if err := checkSale(emulate(context.Background(), time.Minute, emu["arm"], "cortex-a7", v7)); err != nil {
		t.Errorf("GOARM=7 on cortex-a7: %v", err)
	}
}
