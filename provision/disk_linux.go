package provision

import (
	"context"
	"fmt"
	"syscall"
)

// DiskCheck is red when the filesystem holding path has less than minFree
// bytes available to the service user, or is mounted read-only (what the
// kernel does to an SD card after I/O errors).
func DiskCheck(path string, minFree uint64) Check {
	return Check{Name: "disk", Run: func(ctx context.Context) Result {
		var st syscall.Statfs_t
		if err := syscall.Statfs(path, &st); err != nil {
			return red(fmt.Sprintf("cannot inspect the filesystem of %s: %v", path, err), "check that the data directory exists")
		}
		free := st.Bavail * uint64(st.Bsize)
		total := st.Blocks * uint64(st.Bsize)
		d := fmt.Sprintf("%s free of %s on %s", bytesText(free), bytesText(total), path)
		if st.Flags&stReadOnly != 0 {
			return red(d+", but mounted read-only", "the SD card may be failing (the kernel remounts read-only after errors): check `dmesg`, back up and replace the card")
		}
		if free < minFree {
			return red(d+fmt.Sprintf(", need at least %s", bytesText(minFree)),
				"free space: `journalctl --vacuum-size=50M`, `apt-get clean`, remove old files; the database needs room to write orders")
		}
		return green("%s", d)
	}}
}

// stReadOnly is ST_RDONLY from statfs(2).
const stReadOnly = 0x1

func bytesText(n uint64) string {
	switch {
	case n >= 10<<30:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 10<<20:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 10<<10:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}
