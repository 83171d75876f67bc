package provision_test

import (
	"strings"
	"testing"
	"testing/fstest"

	"posagent/provision"
)

// cpuinfo of a Raspberry Pi 3 B (32-bit Raspberry Pi OS), abridged.
const piCPUInfo = `processor	: 0
model name	: ARMv7 Processor rev 4 (v7l)
BogoMIPS	: 38.40
Features	: half thumb fastmult vfp edsp neon vfpv3 tls vfpv4 idiva idivt vfpd32 lpae evtstrm crc32
CPU implementer	: 0x41

Hardware	: BCM2835
Revision	: a02082
Serial		: 00000000abcdef12
Model		: Raspberry Pi 3 Model B Rev 1.2
`

func TestDeviceID(t *testing.T) {
	const mid = "4c1f2d5e9a0b47c6b1e2f3a4d5c6b7e8\n"
	for _, tc := range []struct {
		name string
		fs   fstest.MapFS
		want string
		err  []string
	}{
		{"pi serial", fstest.MapFS{"proc/cpuinfo": {Data: []byte(piCPUInfo)}, "etc/machine-id": {Data: []byte(mid)}}, "00000000abcdef12", nil},
		{"zero serial falls back to machine-id", fstest.MapFS{
			"proc/cpuinfo":   {Data: []byte("processor : 0\nSerial\t\t: 0000000000000000\n")},
			"etc/machine-id": {Data: []byte(mid)},
		}, "4c1f2d5e9a0b47c6b1e2f3a4d5c6b7e8", nil},
		{"x86 cpuinfo without serial", fstest.MapFS{
			"proc/cpuinfo":   {Data: []byte("processor\t: 0\nvendor_id\t: GenuineIntel\n")},
			"etc/machine-id": {Data: []byte(mid)},
		}, "4c1f2d5e9a0b47c6b1e2f3a4d5c6b7e8", nil},
		{"device tree serial (arm64 mainline kernel)", fstest.MapFS{
			"proc/cpuinfo": {Data: []byte("processor\t: 0\nBogoMIPS\t: 108.00\n")},
			"sys/firmware/devicetree/base/serial-number": {Data: []byte("10000000a1b2c3d4\x00")},
			"etc/machine-id": {Data: []byte(mid)},
		}, "10000000a1b2c3d4", nil},
		{"nothing", fstest.MapFS{}, "", []string{"provision: no device id", "proc/cpuinfo", "etc/machine-id"}},
		{"empty machine-id", fstest.MapFS{"etc/machine-id": {Data: []byte("\n")}}, "", []string{"systemd-machine-id-setup"}},
		{"too long", fstest.MapFS{"etc/machine-id": {Data: []byte(strings.Repeat("a", 33))}}, "", []string{"33 characters", "at most 32"}},
		{"bad character", fstest.MapFS{"etc/machine-id": {Data: []byte("abc def")}}, "", []string{"character"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := provision.DeviceID(tc.fs)
			if tc.err == nil {
				if err != nil || got != tc.want {
					t.Fatalf("DeviceID = %q, %v; want %q", got, err, tc.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("DeviceID = %q, want an error", got)
			}
			for _, s := range tc.err {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %q", err, s)
				}
			}
		})
	}
}

func TestOSInfo(t *testing.T) {
	fs := fstest.MapFS{"etc/os-release": {Data: []byte("PRETTY_NAME=\"Raspbian GNU/Linux 12 (bookworm)\"\nNAME=\"Raspbian GNU/Linux\"\n")}}
	got := provision.OSInfo(fs)
	if !strings.HasPrefix(got, "Raspbian GNU/Linux 12 (bookworm) ") {
		t.Errorf("OSInfo = %q", got)
	}
	long := fstest.MapFS{"etc/os-release": {Data: []byte("PRETTY_NAME=" + strings.Repeat("x", 100) + "\n")}}
	if n := len([]rune(provision.OSInfo(long))); n != 64 {
		t.Errorf("OSInfo is %d characters, want it cut to 64", n)
	}
	if got := provision.OSInfo(fstest.MapFS{}); !strings.HasPrefix(got, "linux ") {
		t.Errorf("OSInfo without os-release = %q", got)
	}
}
