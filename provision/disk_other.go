//go:build !linux

package provision

import "context"

// DiskCheck needs statfs(2) as Linux has it; posagent runs on Linux.
func DiskCheck(path string, minFree uint64) Check {
	return Check{Name: "disk", Run: func(ctx context.Context) Result {
		return red("free space is only checked on Linux", "run the doctor on the terminal")
	}}
}
