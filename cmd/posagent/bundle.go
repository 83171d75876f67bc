package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"reflect"
	"regexp"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/spf13/cobra"

	"posagent/gateway/upay"
	"posagent/provision"
	"posagent/storage"
)

// A support bundle is what a technician sends to support instead of a
// screenshot: one tar.gz with
//
//	version.txt   posagent version, commit, platform
//	config.toml   the configuration in effect (after --set), secrets masked
//	journal.txt   `journalctl -u posagent -n 2000` (or why there is none)
//	status.txt    `posagent status`
//	doctor.txt    `posagent doctor`
//	storage.json  the database's statistics (counts, sizes, schema)
//
// It never holds a key: the terminal key lives only in the database, which
// is not included, and the configuration names key files, not keys.

func (c *cli) supportBundleCmd() *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "support-bundle [-o FILE]",
		Short: "Write a tar.gz for support: config (masked), journal, status, doctor, storage stats, version",
		Long: `Write a tar.gz for support: the configuration in effect with secrets masked,
the last 2000 journal lines of the service, status, doctor, the database's
statistics and the version. No key is ever included. "-o -" writes to
standard output. For Upay terminals, upload-log sends the same bundle to the
gateway.`,
		Args: args(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := c.load(cmd)
			if err != nil {
				return err
			}
			if out == "" {
				out = "posagent-support-" + time.Now().UTC().Format("20060102T150405Z") + ".tar.gz"
			}
			b, err := supportBundle(context.Background(), cfg, journal)
			if err != nil {
				return err
			}
			if out == "-" {
				_, err = c.stdout.Write(b)
				return err
			}
			if err := os.WriteFile(out, b, 0o600); err != nil {
				return err
			}
			fmt.Fprintf(c.stdout, "support bundle written: %s (%d bytes)\n", out, len(b))
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", "file to write (default posagent-support-<time>.tar.gz here; - for standard output)")
	return cmd
}

// journal returns the service's recent journal lines.
func journal(ctx context.Context) (string, error) {
	path, err := exec.LookPath("journalctl")
	if err != nil {
		return "", errors.New("journalctl is not available on this system; no journal lines are included")
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, "-u", "posagent", "-n", "2000", "--no-pager", "-o", "short-iso").Output()
	if err != nil {
		return string(out), fmt.Errorf("journalctl -u posagent -n 2000 failed: %v (run as root or a member of systemd-journal)", err)
	}
	return string(out), nil
}

// supportBundle builds the tar.gz in memory (a few hundred KiB at most).
func supportBundle(ctx context.Context, cfg Config, journal func(context.Context) (string, error)) ([]byte, error) {
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	now := time.Now()
	add := func(name, text string) error {
		if err := tw.WriteHeader(&tar.Header{Name: "posagent-support/" + name, Mode: 0o600, Size: int64(len(text)), ModTime: now, Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		_, err := io.WriteString(tw, text)
		return err
	}
	var status, doc strings.Builder
	if err := writeStatus(cfg, &status); err != nil {
		fmt.Fprintf(&status, "status failed: %s\n", plain(err))
	}
	if _, err := doctor(ctx, cfg, false, provision.StyleASCII, &doc); err != nil {
		fmt.Fprintf(&doc, "doctor failed: %s\n", plain(err))
	}
	j, err := journal(ctx)
	if err != nil {
		j = "# " + err.Error() + "\n" + j
	}
	files := []struct{ name, text string }{
		{"version.txt", versionLine() + "\n"},
		{"config.toml", maskedConfig(cfg)},
		{"journal.txt", j},
		{"status.txt", status.String()},
		{"doctor.txt", doc.String()},
		{"storage.json", storageStats(cfg)},
	}
	for _, f := range files {
		if err := add(f.name, f.text); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := gz.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// secretKey matches configuration keys that would hold a secret inline;
// key *files* are paths, and the paths help support.
var secretKey = regexp.MustCompile(`(?i)(key|token|secret|password|pin)$`)

// maskedConfig is cfg as TOML with every inline secret masked.
func maskedConfig(cfg Config) string {
	v := reflect.ValueOf(&cfg).Elem()
	maskStrings(v)
	var b bytes.Buffer
	b.WriteString("# the configuration in effect (file and --set), secrets masked\n")
	if err := toml.NewEncoder(&b).Encode(cfg); err != nil {
		return "# cannot encode the configuration: " + err.Error() + "\n"
	}
	return b.String()
}

func maskStrings(v reflect.Value) {
	switch v.Kind() {
	case reflect.Struct:
		t := v.Type()
		for i := 0; i < v.NumField(); i++ {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			tag, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
			if fv := v.Field(i); fv.Kind() == reflect.String && fv.String() != "" && secretKey.MatchString(tag) {
				fv.SetString("****")
			} else {
				maskStrings(fv)
			}
		}
	case reflect.Slice:
		for i := 0; i < v.Len(); i++ {
			maskStrings(v.Index(i))
		}
	}
}

// storageStats is the database's statistics as JSON, read-only, or from
// the running service.
func storageStats(cfg Config) string {
	db, err := openReadOnly(cfg)
	if errors.Is(err, storage.ErrLocked) {
		var b bytes.Buffer
		if err := viaService(cfg, http.MethodGet, "/stats", nil, &b); err != nil {
			return fmt.Sprintf("{\"error\": %q}\n", plain(err))
		}
		return b.String()
	}
	if err != nil {
		return fmt.Sprintf("{\"error\": %q}\n", plain(err))
	}
	defer db.Close()
	st, err := db.Stats()
	if err != nil {
		return fmt.Sprintf("{\"error\": %q}\n", plain(err))
	}
	b, _ := json.MarshalIndent(st, "", "  ")
	return string(b) + "\n"
}

func (c *cli) uploadLogCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "upload-log",
		Short: "Send the support bundle to Upay (/terminal/uploadLog)",
		Long: `Build the support bundle (see support-bundle) and send it to Upay through
/terminal/uploadLog, signed with the terminal's key, so that support can read
it without anyone visiting the shop. Upay terminals only.`,
		Args: args(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := c.load(cmd)
			if err != nil {
				return err
			}
			if cfg.Gateway.Kind != "upay" {
				return fmt.Errorf("gateway.kind is %q: only Upay takes log uploads; write a bundle with `posagent support-bundle` and send it to support", cfg.Gateway.Kind)
			}
			ctx := context.Background()
			b, err := supportBundle(ctx, cfg, journal)
			if err != nil {
				return err
			}
			db, err := openReadOnly(cfg)
			if errors.Is(err, storage.ErrLocked) {
				// The service holds the key: it sends the bundle.
				if err := serviceUpload(cfg, b, c.stdout); err != nil {
					return err
				}
				return nil
			}
			if err != nil {
				return err
			}
			defer db.Close()
			creds, err := db.Credentials()
			if errors.Is(err, storage.ErrNotFound) {
				return errors.New("this terminal is not provisioned: run posagent provision --code <activation code>")
			}
			if err != nil {
				return err
			}
			cl, err := newUpayClient(cfg.Gateway, upay.Config{TerminalSN: creds.TerminalSN, TerminalKey: creds.TerminalKey})
			if err != nil {
				return err
			}
			if err := uploadLog(ctx, cl, b); err != nil {
				return err
			}
			fmt.Fprintf(c.stdout, "log uploaded: %d bytes for terminal %s\n", len(b), provision.MaskSN(creds.TerminalSN))
			return nil
		},
	}
}

// uploadLog sends gz through /terminal/uploadLog, signed like any call
// (upay-v2.md, "Terminal lifecycle").
func uploadLog(ctx context.Context, cl *upay.Client, gz []byte) error {
	if err := cl.UploadLog(ctx, gz); err != nil {
		return fmt.Errorf("the gateway did not take the log: %s", plain(err))
	}
	return nil
}
