// Command mkdeb packs the ARM builds of posagent into .deb packages, using
// nfpm as a Go library (pinned in go.mod: nothing is downloaded at build
// time). `make deb` runs it after `make build-arm`:
//
//	go run ./cmd/mkdeb -dist dist -out dist -version 1.2.0
//
// The man pages and shell completions come from the CLI's own command
// definitions: mkdeb runs `go run ./cmd/posagent gen-docs` unless given
// -man DIR and -completions DIR.
//
// It writes one package per build:
//
//	posagent_<version>_armhf.deb        Pi Zero/1 and every 32-bit Pi (armv6 build)
//	posagent-armv7_<version>_armhf.deb  Pi 2/3 on Debian-proper armhf (armv7 build)
//	posagent_<version>_arm64.deb        Pi 3/4/5 on a 64-bit OS
//
// Both armhf packages are Architecture: armhf because that is what dpkg on
// the Pi calls it; Raspberry Pi OS's armhf is ARMv6, Debian's is ARMv7. They
// differ by name so that a repository can hold both and apt never offers
// the armv7 build as an "upgrade" of the armv6 one; posagent-armv7
// Provides, Conflicts with and Replaces posagent, and its preinst refuses
// to install on an ARMv6 CPU (where it would die with SIGILL).
//
// Each package holds:
//
//	/usr/bin/posagent                         0755 root:root
//	/etc/posagent/posagent.toml               0640 root:posagent, conffile (dpkg keeps local edits)
//	/usr/lib/systemd/system/posagent.service  0644 (embedded from posagent.service)
//	/var/lib/posagent/                        0700 posagent:posagent (bbolt ledger, terminal key)
//	/usr/share/doc/posagent/install.md        0644 (wiring, provisioning, troubleshooting)
//	/usr/share/doc/<package>/copyright        DEP-5, with every Go module linked in
//	/usr/share/doc/<package>/changelog.gz     gzip -9n
//	/usr/share/man/man1/posagent*.1.gz        posagent gen-docs --man
//	/usr/share/{bash-completion,zsh,fish}/…   posagent gen-docs --completions
//	/usr/share/lintian/overrides/<package>    the deliberate deviations, each with its reason
//
// and maintainer scripts that create the posagent system user before unpack
// (so the owners above resolve), put it in the device groups that exist
// (dialout, spi, gpio, lp, i2c), enable the unit, and restart it on upgrade.
//
// Before packing, mkdeb reads each binary's ELF header and Go build info
// and refuses a binary built for another architecture or GOARM: an armv7
// binary in the Pi Zero package dies with SIGILL in the field.
package main

import (
	"debug/buildinfo"
	"debug/elf"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/goreleaser/nfpm/v2"
	"github.com/goreleaser/nfpm/v2/deb"
	"github.com/goreleaser/nfpm/v2/files"
)

//go:embed posagent.service
var unitFile string

// Paths on the device. The unit file's ExecStart and the docs name them too.
const (
	pkgName    = "posagent"
	binPath    = "/usr/bin/posagent"
	configPath = "/etc/posagent/posagent.toml"
	unitPath   = "/usr/lib/systemd/system/posagent.service"
	stateDir   = "/var/lib/posagent"
	docPath    = "/usr/share/doc/posagent/install.md"
)

// target is one ARM build and the package made from it.
type target struct {
	Name    string // armv6, armv7, arm64: the suffix of dist/posagent-linux-<Name>
	Package string // Debian package name
	GOARCH  string
	GOARM   string // "" for arm64
	DebArch string
	Machine elf.Machine
}

var targets = []target{
	{Name: "armv6", Package: pkgName, GOARCH: "arm", GOARM: "6", DebArch: "armhf", Machine: elf.EM_ARM},
	{Name: "armv7", Package: pkgName + "-armv7", GOARCH: "arm", GOARM: "7", DebArch: "armhf", Machine: elf.EM_ARM},
	{Name: "arm64", Package: pkgName, GOARCH: "arm64", DebArch: "arm64", Machine: elf.EM_AARCH64},
}

func lookupTarget(name string) (target, error) {
	for _, t := range targets {
		if t.Name == name {
			return t, nil
		}
	}
	return target{}, fmt.Errorf("mkdeb: unknown target %q (have armv6, armv7, arm64)", name)
}

// FileName is the package's file name: Debian's name_version_arch.deb. The
// two armhf packages differ by name.
func (t target) FileName(version string) string {
	return fmt.Sprintf("%s_%s_%s.deb", t.Package, version, t.DebArch)
}

// Build describes the platform a Go binary was built for, as
// `posagent version` prints it: "linux/arm GOARM=6", "linux/arm64".
func (t target) Build() string {
	if t.GOARM != "" {
		return "linux/" + t.GOARCH + " GOARM=" + t.GOARM
	}
	return "linux/" + t.GOARCH
}

// options is what one package is made of.
type options struct {
	Binary      string // the ARM posagent binary
	Config      string // example config, shipped as the conffile
	Doc         string // docs/install.md; "" leaves it out
	Version     string // Debian version, see debVersion
	OutDir      string
	Maintainer  string    // "Name <mail>"
	Date        time.Time // of the changelog entry
	ManDir      string    // man pages from posagent gen-docs; "" for none
	Completions string    // completion scripts from posagent gen-docs; "" for none
	GoRoot      string    // GOROOT and GOMODCACHE: where the licences of what
	ModCache    string    // the binary links in are read from
	SrcDir      string    // module root the binary was built from
	MainPkg     string    // its main package, for gen-docs and linkedPackages; "" for neither
}

func main() {
	var (
		dist     = flag.String("dist", "dist", "directory holding posagent-linux-{armv6,armv7,arm64} (make build-arm)")
		out      = flag.String("out", "dist", "directory the .deb files are written to")
		version  = flag.String("version", "", "package version, e.g. 1.2.0 or the output of git describe (required)")
		config   = flag.String("config", "cmd/posagent/posagent.example.toml", "example config shipped as "+configPath)
		doc      = flag.String("doc", "docs/install.md", "installation guide shipped as "+docPath+` ("" to leave out)`)
		selected = flag.String("targets", "armv6,armv7,arm64", "comma-separated builds to package")
		maint    = flag.String("maintainer", defaultMaintainer, "Maintainer field and changelog signature, \"Name <mail>\"")
		date     = flag.String("date", "", "changelog date, RFC 3339 (default: $SOURCE_DATE_EPOCH, else now)")
	)
	var x extras
	flag.StringVar(&x.SrcDir, "src", ".", "module root the binaries were built from")
	flag.StringVar(&x.MainPkg, "main", "./cmd/posagent", "main package of the binaries: its gen-docs command and the NOTICE files of the packages it links in (\"\" for neither)")
	flag.StringVar(&x.ManDir, "man", "", "directory of man pages from `posagent gen-docs --man DIR`")
	flag.StringVar(&x.Completions, "completions", "", "directory of completion scripts from `posagent gen-docs --completions DIR`")
	flag.BoolVar(&x.GenDocs, "gen-docs", true, "when neither -man nor -completions is given, make both with `go run MAIN gen-docs` (false: ship none)")
	flag.Parse()
	x.Maintainer = *maint
	var err error
	if x.Date, err = changelogDate(*date, os.Getenv("SOURCE_DATE_EPOCH"), time.Now()); err == nil {
		x.GoRoot, x.ModCache, err = goEnv()
	}
	if err == nil {
		err = run(*dist, *out, *version, *config, *doc, *selected, os.Stdout, x)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// defaultMaintainer has a mail host lintian accepts (a domain with a dot;
// .example is reserved by RFC 2606 and never delivers): pass the operator's
// real address with -maintainer.
const defaultMaintainer = "posagent maintainers <maintainers@posagent.example>"

// extras are the inputs of a package beyond the build itself.
type extras struct {
	Maintainer       string
	Date             time.Time
	ManDir           string
	Completions      string
	GoRoot, ModCache string
	SrcDir, MainPkg  string
	// GenDocs: with ManDir and Completions both empty, run the main
	// package's gen-docs command to make them (see genDocs).
	GenDocs bool
}

// changelogDate picks the changelog's date: the flag, else
// SOURCE_DATE_EPOCH (reproducible-builds.org/specs/source-date-epoch), else now.
func changelogDate(flagValue, epoch string, now time.Time) (time.Time, error) {
	switch {
	case flagValue != "":
		t, err := time.Parse(time.RFC3339, flagValue)
		if err != nil {
			return time.Time{}, fmt.Errorf("mkdeb: -date %q: want RFC 3339, e.g. 2026-12-01T10:00:00Z", flagValue)
		}
		return t, nil
	case epoch != "":
		n, err := strconv.ParseInt(epoch, 10, 64)
		if err != nil {
			return time.Time{}, fmt.Errorf("mkdeb: SOURCE_DATE_EPOCH %q is not a number of seconds", epoch)
		}
		return time.Unix(n, 0), nil
	}
	return now, nil
}

// genDocs runs `go run mainPkg gen-docs --man manDir --completions compDir`
// in srcDir: the CLI writes its man pages and completion scripts from its
// own command definitions (cmd/posagent, cobra/doc). SOURCE_DATE_EPOCH is
// the changelog's date, which cobra/doc puts in the pages, so that a
// package build is reproducible. It runs for the build machine, whatever
// GOOS/GOARCH the environment names.
func genDocs(srcDir, mainPkg, manDir, compDir string, date time.Time) error {
	cmd := exec.Command("go", "run", mainPkg, "gen-docs", "--man", manDir, "--completions", compDir)
	cmd.Dir = srcDir
	cmd.Env = append(os.Environ(), "SOURCE_DATE_EPOCH="+strconv.FormatInt(date.Unix(), 10), "GOOS=", "GOARCH=", "GOARM=")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("mkdeb: go run %s gen-docs: %w\n%s(pass -man DIR -completions DIR, or -gen-docs=false to ship none)", mainPkg, err, out)
	}
	return nil
}

// goEnv asks the go command where the standard library and the module
// cache are: the copyright file quotes their licences.
func goEnv() (goroot, modcache string, err error) {
	out, err := exec.Command("go", "env", "GOROOT", "GOMODCACHE").Output()
	if err != nil {
		return "", "", fmt.Errorf("mkdeb: go env GOROOT GOMODCACHE: %w", err)
	}
	f := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(f) != 2 {
		return "", "", fmt.Errorf("mkdeb: go env printed %q", out)
	}
	return f[0], f[1], nil
}

func run(dist, out, version, config, doc, selected string, stdout io.Writer, x extras) error {
	if version == "" {
		return errors.New("mkdeb: -version is required (make deb passes $(VERSION))")
	}
	if x.Maintainer == "" {
		x.Maintainer = defaultMaintainer
	}
	v, err := debVersion(version)
	if err != nil {
		return err
	}
	if x.GenDocs && x.ManDir == "" && x.Completions == "" && x.MainPkg != "" {
		dir, err := os.MkdirTemp("", "mkdeb-docs-")
		if err != nil {
			return fmt.Errorf("mkdeb: %w", err)
		}
		defer os.RemoveAll(dir)
		x.ManDir, x.Completions = filepath.Join(dir, "man"), filepath.Join(dir, "completions")
		if err := genDocs(x.SrcDir, x.MainPkg, x.ManDir, x.Completions, x.Date); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "man pages and completions from go run %s gen-docs\n", x.MainPkg)
	}
	for _, name := range strings.Split(selected, ",") {
		t, err := lookupTarget(strings.TrimSpace(name))
		if err != nil {
			return err
		}
		path, err := buildDeb(t, options{
			Binary:      filepath.Join(dist, "posagent-linux-"+t.Name),
			Config:      config,
			Doc:         doc,
			Version:     v,
			OutDir:      out,
			Maintainer:  x.Maintainer,
			Date:        x.Date,
			ManDir:      x.ManDir,
			Completions: x.Completions,
			GoRoot:      x.GoRoot,
			ModCache:    x.ModCache,
			SrcDir:      x.SrcDir,
			MainPkg:     x.MainPkg,
		})
		if err != nil {
			return err
		}
		st, err := os.Stat(path)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s  %d bytes  (Package: %s, Architecture: %s, %s)\n", path, st.Size(), t.Package, t.DebArch, t.Build())
	}
	return nil
}

var gitDescribe = regexp.MustCompile(`^[0-9A-Za-z.+~-]+$`)

// debVersion turns a git describe string into a Debian version:
// "v1.2.0" → "1.2.0", "v1.2.0-3-gabc1234-dirty" → "1.2.0+3+gabc1234+dirty"
// (sorts after 1.2.0, as a later build should), and a bare commit such as
// "abc1234" → "0+gabc1234" (Debian versions must start with a digit).
// Hyphens become '+' because dpkg reads the last hyphen as the Debian
// revision.
func debVersion(s string) (string, error) {
	s = strings.TrimPrefix(strings.TrimSpace(s), "v")
	if s == "" || !gitDescribe.MatchString(s) {
		return "", fmt.Errorf("mkdeb: version %q: want something like 1.2.0 or git describe output (letters, digits, . + ~ -)", s)
	}
	s = strings.ReplaceAll(s, "-", "+")
	if s[0] < '0' || s[0] > '9' {
		s = "0+g" + s
	}
	return s, nil
}

// checkBinary refuses a file that is not a Go binary for t.
func checkBinary(path string, t target) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("mkdeb: %s: %w (run make build-arm first)", path, err)
	}
	machine := f.Machine
	f.Close()
	if machine != t.Machine {
		return fmt.Errorf("mkdeb: %s is an ELF for %s, the %s package needs %s", path, machine, t.Name, t.Machine)
	}
	bi, err := buildinfo.ReadFile(path)
	if err != nil {
		return fmt.Errorf("mkdeb: %s: no Go build info: %w", path, err)
	}
	got := map[string]string{}
	for _, s := range bi.Settings {
		got[s.Key] = s.Value
	}
	if got["GOOS"] != "linux" || got["GOARCH"] != t.GOARCH || got["GOARM"] != t.GOARM {
		return fmt.Errorf("mkdeb: %s was built for GOOS=%s GOARCH=%s GOARM=%s, the %s package needs %s",
			path, got["GOOS"], got["GOARCH"], got["GOARM"], t.Name, t.Build())
	}
	if got["CGO_ENABLED"] != "0" {
		return fmt.Errorf("mkdeb: %s was built with CGO_ENABLED=%q; the package assumes a static binary (CGO_ENABLED=0)", path, got["CGO_ENABLED"])
	}
	return nil
}

// buildDeb writes the package for t into o.OutDir and returns its path.
func buildDeb(t target, o options) (string, error) {
	if err := checkBinary(o.Binary, t); err != nil {
		return "", err
	}
	if _, err := os.Stat(o.Config); err != nil {
		return "", fmt.Errorf("mkdeb: example config %s: %w; the package ships it as %s (a conffile), so it must exist: write it, or pass -config PATH", o.Config, err, configPath)
	}
	var probe map[string]any
	if _, err := toml.DecodeFile(o.Config, &probe); err != nil {
		return "", fmt.Errorf("mkdeb: example config %s is not valid TOML: %w", o.Config, err)
	}
	if o.Doc != "" {
		if _, err := os.Stat(o.Doc); err != nil {
			return "", fmt.Errorf("mkdeb: installation guide %s: %w (pass -doc \"\" to leave it out)", o.Doc, err)
		}
	}

	// nfpm takes files by path: the embedded unit and the scripts go
	// through a scratch directory.
	scratch, err := os.MkdirTemp("", "mkdeb-")
	if err != nil {
		return "", fmt.Errorf("mkdeb: %w", err)
	}
	defer os.RemoveAll(scratch)
	ns, pkgs, err := linkedPackages(o.SrcDir, o.MainPkg, t)
	if err != nil {
		return "", err
	}
	copyrightText, err := copyright(copyrightInputs{Binary: o.Binary, Maintainer: o.Maintainer, GoRoot: o.GoRoot, ModCache: o.ModCache, Notices: ns, Packages: pkgs})
	if err != nil {
		return "", err
	}
	man, err := manPages(o.ManDir)
	if err != nil {
		return "", err
	}
	comps, err := completions(o.Completions)
	if err != nil {
		return "", err
	}
	bin, err := os.ReadFile(o.Binary)
	if err != nil {
		return "", fmt.Errorf("mkdeb: %w", err)
	}
	docDir := "/usr/share/doc/" + t.Package
	generated := map[string][]byte{
		"preinst":          []byte(preinstFor(t)),
		"postinst":         []byte(postinst),
		"prerm":            []byte(prerm),
		"postrm":           []byte(postrm),
		"posagent.service": []byte(unitFile),
		"copyright":        []byte(copyrightText),
		"changelog.gz":     gzip9n([]byte(changelog(t.Package, o.Version, t.Build(), o.Maintainer, o.Date))),
		"overrides":        []byte(lintianOverrides(t.Package, bin)),
	}
	paths := map[string]string{}
	for name, body := range generated {
		p := filepath.Join(scratch, name)
		if err := os.WriteFile(p, body, 0o644); err != nil {
			return "", fmt.Errorf("mkdeb: %w", err)
		}
		paths[name] = p
	}

	contents := files.Contents{
		{Source: o.Binary, Destination: binPath, FileInfo: &files.ContentFileInfo{Mode: 0o755}},
		// Declared so it is root:root 0755; as an implicit parent it would
		// take the conffile's group.
		{Destination: "/etc/posagent", Type: files.TypeDir, FileInfo: &files.ContentFileInfo{Mode: 0o755}},
		{Source: o.Config, Destination: configPath, Type: files.TypeConfigNoReplace,
			FileInfo: &files.ContentFileInfo{Mode: 0o640, Owner: "root", Group: pkgName}},
		{Source: paths["posagent.service"], Destination: unitPath, FileInfo: &files.ContentFileInfo{Mode: 0o644}},
		{Destination: stateDir, Type: files.TypeDir,
			FileInfo: &files.ContentFileInfo{Mode: 0o700, Owner: pkgName, Group: pkgName}},
	}
	if o.Doc != "" {
		contents = append(contents, &files.Content{Source: o.Doc, Destination: docPath, FileInfo: &files.ContentFileInfo{Mode: 0o644}})
	}
	for name, dst := range map[string]string{
		"copyright":    docDir + "/copyright",
		"changelog.gz": docDir + "/changelog.gz",
		"overrides":    "/usr/share/lintian/overrides/" + t.Package,
	} {
		contents = append(contents, &files.Content{Source: paths[name], Destination: dst, FileInfo: &files.ContentFileInfo{Mode: 0o644}})
	}
	for dst, body := range man {
		p := filepath.Join(scratch, filepath.Base(dst))
		if err := os.WriteFile(p, body, 0o644); err != nil {
			return "", fmt.Errorf("mkdeb: %w", err)
		}
		contents = append(contents, &files.Content{Source: p, Destination: dst, FileInfo: &files.ContentFileInfo{Mode: 0o644}})
	}
	for src, dst := range comps {
		contents = append(contents, &files.Content{Source: src, Destination: dst, FileInfo: &files.ContentFileInfo{Mode: 0o644}})
	}
	// Map order is random; nfpm writes in slice order.
	sort.Slice(contents, func(i, j int) bool { return contents[i].Destination < contents[j].Destination })

	// The armv7 build replaces the armv6 one on a Pi 2/3 and back; both
	// are "posagent" to anything that depends on the agent.
	var conflicts, replaces, provides []string
	switch {
	case t.Package != pkgName:
		conflicts, replaces, provides = []string{pkgName}, []string{pkgName}, []string{pkgName + " (= " + o.Version + ")"}
	case t.DebArch == "armhf":
		conflicts, replaces = []string{pkgName + "-armv7"}, []string{pkgName + "-armv7"}
	}

	info := nfpm.WithDefaults(&nfpm.Info{
		Name:          t.Package,
		Arch:          t.DebArch,
		Platform:      "linux",
		Version:       o.Version,
		VersionSchema: "none", // debVersion already made it a Debian version
		Section:       "misc",
		Priority:      "optional",
		Maintainer:    o.Maintainer,
		Description: "payment terminal agent for Raspberry Pi counters (" + t.Build() + ")\n" +
			"Turns a typed amount into a payment QR code on an SPI display or\n" +
			"receipt printer and never loses or double-charges an order.\n" +
			"Runs as the posagent systemd service; see " + docPath + ".",
		License: "proprietary",
		Overridables: nfpm.Overridables{
			Contents: contents,
			// preinst runs adduser before unpack, hence Pre-Depends.
			// The binary is static: no shared-library dependencies.
			// The scripts also use deb-systemd-helper/-invoke, as
			// debhelper's do: init-system-helpers is Essential, so it is not
			// listed (lintian: depends-on-essential-package-without-using-version).
			Depends: []string{"systemd"},
			// The built-in glyph table holds the interface's own words;
			// merchant names, subjects and gateway messages in Chinese need
			// a system CJK font (display/bitmapfont's default path).
			Recommends: []string{"fonts-wqy-microhei"},
			Conflicts:  conflicts,
			Replaces:   replaces,
			Provides:   provides,
			Deb: nfpm.Deb{
				Predepends: []string{"adduser"},
			},
			Scripts: nfpm.Scripts{
				PreInstall:  paths["preinst"],
				PostInstall: paths["postinst"],
				PreRemove:   paths["prerm"],
				PostRemove:  paths["postrm"],
			},
		},
	})
	if err := nfpm.PrepareForPackager(info, "deb"); err != nil {
		return "", fmt.Errorf("mkdeb: %s: %w", t.Name, err)
	}

	if err := os.MkdirAll(o.OutDir, 0o755); err != nil {
		return "", fmt.Errorf("mkdeb: %w", err)
	}
	path := filepath.Join(o.OutDir, t.FileName(o.Version))
	// Write next to the target and rename, so an interrupted build never
	// leaves a truncated .deb under the real name.
	tmp, err := os.CreateTemp(o.OutDir, ".mkdeb-*.deb")
	if err != nil {
		return "", fmt.Errorf("mkdeb: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := deb.Default.Package(info, tmp); err != nil {
		tmp.Close()
		return "", fmt.Errorf("mkdeb: packing %s: %w", path, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return "", fmt.Errorf("mkdeb: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return "", fmt.Errorf("mkdeb: writing %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return "", fmt.Errorf("mkdeb: %w", err)
	}
	return path, nil
}
