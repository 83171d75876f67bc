package agent

import "golang.org/x/sys/unix"

// kernelSynced reads adjtimex(2): STA_UNSYNC clear and no TIME_ERROR state
// mean a time daemon disciplines the clock.
func kernelSynced() (bool, error) {
	var tx unix.Timex
	state, err := unix.Adjtimex(&tx)
	if err != nil {
		return false, err
	}
	return tx.Status&unix.STA_UNSYNC == 0 && state != unix.TIME_ERROR, nil
}
