//go:build !linux

package agent

import "errors"

func kernelSynced() (bool, error) {
	return false, errors.New("agent: the kernel's clock state is read on Linux only")
}
