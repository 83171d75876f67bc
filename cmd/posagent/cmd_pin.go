package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// pinCmd sets the supervisor's or the technician's PIN for the counter's
// menu (refunds and reports on the keypad).
func (c *cli) pinCmd() *cobra.Command {
	pin := &cobra.Command{
		Use:   "pin",
		Short: "Set the PINs that guard the keypad's menu",
	}
	set := &cobra.Command{
		Use:       "set [supervisor|technician]",
		Short:     "Set a PIN (asked twice, never echoed)",
		Long:      "Set the supervisor's PIN (refunds on the keypad; the default role) or the technician's (the set-up menu). The PIN is asked twice without echo and stored hashed.",
		Args:      args(0, 1),
		ValidArgs: []cobra.Completion{"supervisor", "technician"},
		RunE: func(cmd *cobra.Command, a []string) error {
			role := "supervisor"
			if len(a) == 1 {
				role = a[0]
			}
			if role != "supervisor" && role != "technician" {
				return usageError{errors.New("the role is supervisor or technician")}
			}
			if _, err := c.load(cmd); err != nil {
				return err
			}
			// TODO(counter): call counter.SetPIN(path, role, pin) once
			// agent/counter provides it.
			return errors.New("pin set is not available in this build yet: the counter's PIN store is missing")
		},
	}
	pin.AddCommand(set)
	return pin
}
