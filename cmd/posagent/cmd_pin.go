package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"posagent/agent/counter"
)

// pinPath is the counter's PIN file: next to the database, in the state
// directory only the service user can read.
func pinPath(cfg Config) string {
	return filepath.Join(filepath.Dir(cfg.Terminal.Database), counter.PINFile)
}

// pinCmd sets the supervisor's or the technician's PIN for the counter's
// menu (refunds and reports on the keypad).
func (c *cli) pinCmd() *cobra.Command {
	pin := &cobra.Command{
		Use:   "pin",
		Short: "Set the PINs that guard the keypad's menu",
	}
	set := &cobra.Command{
		Use:   "set [supervisor|technician]",
		Short: "Set a PIN (asked twice, never echoed)",
		Long: `Set the supervisor's PIN (refunds and reports on the keypad; the default
role) or the technician's (the set-up menu): 4 to 8 digits, asked twice
without echo, stored hashed (argon2id) next to the database. Setting a PIN
also lifts a lockout after wrong PINs.`,
		Args:      args(0, 1),
		ValidArgs: []cobra.Completion{"supervisor", "technician"},
		RunE: func(cmd *cobra.Command, a []string) error {
			role := counter.Supervisor
			if len(a) == 1 {
				role = counter.Role(a[0])
			}
			if role != counter.Supervisor && role != counter.Technician {
				return usageError{fmt.Errorf("%q is not a role: supervisor or technician", a[0])}
			}
			cfg, err := c.load(cmd)
			if err != nil {
				return err
			}
			path := pinPath(cfg)
			if _, err := os.Stat(filepath.Dir(path)); err != nil {
				return fmt.Errorf("the state directory %s does not exist: check terminal.database (the service creates it when it first runs)", filepath.Dir(path))
			}
			ask := prompter(c.stdin, c.stderr)
			p1, err := ask("New "+string(role)+" PIN (4-8 digits)", true)
			if err != nil {
				return err
			}
			p2, err := ask("The same PIN again", true)
			if err != nil {
				return err
			}
			if p1 != p2 {
				return errors.New("the two PINs differ; nothing was changed")
			}
			if err := counter.SetPIN(path, role, p1); err != nil {
				return errors.New(plain(err))
			}
			fmt.Fprintf(c.stdout, "%s PIN set (%s)\n", role, path)
			return nil
		},
	}
	pin.AddCommand(set)
	return pin
}
