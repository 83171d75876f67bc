package provision

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"runtime"
	"strings"
)

// MaxDeviceIDLen is Upay's limit on device_id (String(32)).
const MaxDeviceIDLen = 32

// Where DeviceID looks, relative to the root it is given.
const (
	cpuinfoPath   = "proc/cpuinfo"
	dtSerialPath  = "sys/firmware/devicetree/base/serial-number"
	machineIDPath = "etc/machine-id"
)

// DeviceID returns a stable hardware identifier for device_id: the
// Raspberry Pi CPU serial ("Serial : 00000000abcdef12" in /proc/cpuinfo,
// or the device tree's serial-number on kernels that leave it out of
// cpuinfo), else /etc/machine-id. An all-zero serial (what some kernels and
// non-Pi boards print) is skipped. Pass os.DirFS("/") in production.
//
// The CPU serial is burnt into the SoC, so it survives re-imaging; the
// machine-id does not, and is duplicated by images cloned without
// `systemd-machine-id-setup`. That is why the serial comes first.
func DeviceID(root fs.FS) (string, error) {
	var tried []string

	if b, err := fs.ReadFile(root, cpuinfoPath); err == nil {
		if id, ok := cpuSerial(b); ok {
			return checkID(cpuinfoPath, id)
		}
		tried = append(tried, cpuinfoPath+" has no non-zero Serial line (not a Raspberry Pi?)")
	} else {
		tried = append(tried, cpuinfoPath+": "+errText(err))
	}

	if b, err := fs.ReadFile(root, dtSerialPath); err == nil {
		id := strings.TrimSpace(string(bytes.TrimRight(b, "\x00\n")))
		if id != "" && !allZero(id) {
			return checkID(dtSerialPath, id)
		}
		tried = append(tried, dtSerialPath+" is empty or all zero")
	} else if !errors.Is(err, fs.ErrNotExist) {
		tried = append(tried, dtSerialPath+": "+errText(err))
	}

	if b, err := fs.ReadFile(root, machineIDPath); err == nil {
		id := strings.TrimSpace(string(b))
		if id != "" && !allZero(id) {
			return checkID(machineIDPath, id)
		}
		tried = append(tried, machineIDPath+" is empty (run systemd-machine-id-setup)")
	} else {
		tried = append(tried, machineIDPath+": "+errText(err))
	}
	return "", fmt.Errorf("provision: no device id: %s", strings.Join(tried, "; "))
}

// cpuSerial finds the "Serial" line of /proc/cpuinfo.
func cpuSerial(cpuinfo []byte) (string, bool) {
	sc := bufio.NewScanner(bytes.NewReader(cpuinfo))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || !strings.EqualFold(strings.TrimSpace(k), "serial") {
			continue
		}
		v = strings.TrimSpace(v)
		if v != "" && !allZero(v) {
			return v, true
		}
	}
	return "", false
}

func allZero(s string) bool { return strings.Trim(s, "0") == "" }

// checkID applies Upay's format: at most 32 printable ASCII characters.
func checkID(src, id string) (string, error) {
	if len(id) > MaxDeviceIDLen {
		return "", fmt.Errorf("provision: device id from %s is %d characters, Upay allows at most %d", src, len(id), MaxDeviceIDLen)
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c <= ' ' || c > '~' {
			return "", fmt.Errorf("provision: device id from %s has a character %q Upay does not take", src, c)
		}
	}
	return id, nil
}

func errText(err error) string {
	if errors.Is(err, fs.ErrNotExist) {
		return "does not exist"
	}
	return err.Error()
}

// OSInfo describes the system for os_info (at most 64 characters):
// PRETTY_NAME from etc/os-release and the Go architecture, e.g.
// "Raspbian GNU/Linux 12 (bookworm) arm". Pass os.DirFS("/").
func OSInfo(root fs.FS) string {
	name := "linux"
	if b, err := fs.ReadFile(root, "etc/os-release"); err == nil {
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "PRETTY_NAME="); ok {
				if v = strings.Trim(strings.TrimSpace(v), `"'`); v != "" {
					name = v
				}
			}
		}
	}
	s := name + " " + runtime.GOARCH
	if r := []rune(s); len(r) > 64 {
		s = string(r[:64])
	}
	return s
}
