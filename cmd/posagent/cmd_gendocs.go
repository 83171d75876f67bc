package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// genDocsCmd writes man pages and shell completions from the command
// definitions themselves, so that they cannot drift from the binary. The
// package build runs it (cmd/mkdeb takes the two directories). Hidden: it
// is for packagers, not technicians.
func (c *cli) genDocsCmd() *cobra.Command {
	var man, comp string
	cmd := &cobra.Command{
		Use:    "gen-docs [--man DIR] [--completions DIR]",
		Short:  "Write man pages and bash, zsh and fish completions (for packaging)",
		Hidden: true,
		Args:   args(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if man == "" && comp == "" {
				return usageError{errors.New("give --man DIR, --completions DIR or both")}
			}
			root := cmd.Root()
			if man != "" {
				if err := os.MkdirAll(man, 0o755); err != nil {
					return err
				}
				// The date comes from SOURCE_DATE_EPOCH when set (cobra/doc
				// reads it), so that package builds are reproducible.
				root.DisableAutoGenTag = true
				hdr := &doc.GenManHeader{Title: "POSAGENT", Section: "1", Source: "posagent " + version, Manual: "posagent manual"}
				if err := doc.GenManTree(root, hdr, man); err != nil {
					return fmt.Errorf("man pages: %w", err)
				}
			}
			if comp != "" {
				if err := os.MkdirAll(comp, 0o755); err != nil {
					return err
				}
				for name, gen := range map[string]func(string) error{
					"posagent.bash": func(p string) error { return root.GenBashCompletionFileV2(p, true) },
					"posagent.zsh":  root.GenZshCompletionFile,
					"posagent.fish": func(p string) error { return root.GenFishCompletionFile(p, true) },
				} {
					if err := gen(filepath.Join(comp, name)); err != nil {
						return fmt.Errorf("completions: %w", err)
					}
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&man, "man", "", "directory for the man pages (posagent.1, posagent-orders-export.1, ...)")
	cmd.Flags().StringVar(&comp, "completions", "", "directory for posagent.bash, posagent.zsh and posagent.fish")
	return cmd
}
