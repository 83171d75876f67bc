package main

// The files Debian policy wants next to a program: the copyright file
// (policy §12.5, in the machine-readable DEP-5 format), the changelog
// (policy §12.7: changelog.gz for a native package, gzip -9n), man pages
// (policy §12.1) and shell completions. lintian checks all of them.

import (
	"bytes"
	"compress/gzip"
	"debug/buildinfo"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"sort"
	"strings"
	"time"
)

// gzip9n compresses b as `gzip -9n` does: best compression, and no file
// name or timestamp in the header, so equal input gives equal bytes
// (lintian: changelog-file-not-compressed-with-max-compression reads the
// XFL byte, which compress/gzip sets to 2 at BestCompression).
func gzip9n(b []byte) []byte {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression) // only fails on a bad level
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

// changelog is a one-entry Debian changelog (deb-changelog(5)) for the
// build being packaged. The package is native (no Debian revision), so the
// file is changelog.gz, not changelog.Debian.gz.
func changelog(pkg, version, build, maintainer string, date time.Time) string {
	return fmt.Sprintf("%s (%s) unstable; urgency=medium\n\n"+
		"  * posagent %s built for %s.\n\n"+
		" -- %s  %s\n",
		pkg, version, version, build, maintainer, date.UTC().Format(time.RFC1123Z))
}

// License texts lintian wants referenced, not copied, because Debian ships
// them in /usr/share/common-licenses (lintian:
// copyright-file-contains-full-apache-2-license and friends).
var commonLicenses = map[string]string{
	"Apache-2.0": "/usr/share/common-licenses/Apache-2.0",
	"MPL-2.0":    "/usr/share/common-licenses/MPL-2.0",
}

// classifyAll names the licences in a licence file by SPDX identifier,
// from the phrases that define each: a file may hold several (go-yaml's
// LICENSE: MIT for the code ported from libyaml, Apache-2.0 for the rest).
func classifyAll(text string) []string {
	t := strings.Join(strings.Fields(text), " ")
	has := func(phrases ...string) bool {
		for _, p := range phrases {
			if strings.Contains(t, p) {
				return true
			}
		}
		return false
	}
	var names []string
	if has("Apache License") && has("Version 2.0") {
		names = append(names, "Apache-2.0")
	}
	if has("Mozilla Public License") && has("2.0") {
		names = append(names, "MPL-2.0")
	}
	if has("Permission is hereby granted, free of charge") {
		names = append(names, "Expat")
	}
	if has("Permission to use, copy, modify, and/or distribute", "Permission to use, copy, modify, and distribute") {
		names = append(names, "ISC")
	}
	if has("Redistribution and use in source and binary forms") {
		if has("Neither the name", "names of its contributors") {
			names = append(names, "BSD-3-Clause")
		} else {
			names = append(names, "BSD-2-Clause")
		}
	}
	return names
}

// classify is the licence of a text that holds one; "" when none is
// recognised or several are.
func classify(text string) string {
	if n := classifyAll(text); len(n) == 1 {
		return n[0]
	}
	return ""
}

var copyrightLine = regexp.MustCompile(`(?m)^\s*Copyright\s*(?:\([cC]\)|©)?\s*(.+?)\s*$`)

// holders returns the copyright statements of a license text, or
// fallback when it names none (Apache-2.0 files usually do not).
func holders(text, fallback string) []string {
	var out []string
	for _, m := range copyrightLine.FindAllStringSubmatch(text, -1) {
		// "Copyright 2006-2008, Google Corporation; some CJK punctuation
		// from": the statement ends at the semicolon.
		h, _, _ := strings.Cut(m[1], ";")
		h = strings.TrimSuffix(strings.TrimSpace(h), ".")
		h = strings.TrimSuffix(h, " All rights reserved")
		h = strings.TrimSuffix(h, ".")
		// Skip the Apache licence's own "Copyright [yyyy] [name of
		// copyright owner]" template (or {yyyy} {…}) and "copyright
		// notice" prose.
		if h == "" || strings.ContainsAny(h, "[{") || strings.HasPrefix(strings.ToLower(h), "notice") ||
			strings.HasPrefix(strings.ToLower(h), "owner") || strings.HasPrefix(strings.ToLower(h), "holders") {
			continue
		}
		out = append(out, h)
	}
	if len(out) == 0 {
		return []string{fallback}
	}
	return out
}

// escapeModPath is the module cache's case encoding (go.dev/ref/mod#module-cache):
// each upper-case letter becomes '!' and its lower-case form.
func escapeModPath(p string) string {
	var b strings.Builder
	for _, r := range p {
		if r >= 'A' && r <= 'Z' {
			b.WriteByte('!')
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}

var (
	licenseFile = regexp.MustCompile(`(?i)^(licen[cs]e|copying)([.-][a-z0-9.-]+)?$`) // LICENSE, LICENSE.md, LICENSE.libyaml, COPYING
	noticeFile  = regexp.MustCompile(`(?i)^notice(\.(md|txt))?$`)
)

// modLicense is what a module's root says about its terms.
type modLicense struct {
	Licenses []string // the texts of LICENSE*, COPYING*
	Notices  []string // NOTICE files, which Apache-2.0 §4(d) asks to pass on
}

// text is every licence text, one after the other.
func (l modLicense) text() string { return strings.Join(l.Licenses, "\n") }

// moduleLicense reads the licence and notice files at the root of a module
// in the module cache.
func moduleLicense(modCache, path, version string) (modLicense, error) {
	var l modLicense
	dir := filepath.Join(modCache, escapeModPath(path)+"@"+version)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return l, fmt.Errorf("mkdeb: licence of %s@%s: %w (the binary was built from the module cache; run mkdeb on the machine that built it)", path, version, err)
	}
	for _, e := range entries { // ReadDir sorts by name
		lic, notice := licenseFile.MatchString(e.Name()), noticeFile.MatchString(e.Name())
		if e.IsDir() || !lic && !notice {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return l, fmt.Errorf("mkdeb: %w", err)
		}
		if lic {
			l.Licenses = append(l.Licenses, string(b))
		} else {
			l.Notices = append(l.Notices, string(b))
		}
	}
	if len(l.Licenses) == 0 {
		return l, fmt.Errorf("mkdeb: %s@%s has no LICENSE or COPYING file", path, version)
	}
	return l, nil
}

// quoted is the text of the licence files the copyright file must quote:
// those naming a licence Debian does not ship in /usr/share/common-licenses
// (go-yaml v2: LICENSE.libyaml, MIT, is quoted; LICENSE, the full
// Apache-2.0 text, is referenced). "" when all are referenced.
func (l modLicense) quoted() string {
	var out []string
	for _, t := range l.Licenses {
		for _, n := range classifyAll(t) {
			if _, ok := commonLicenses[n]; !ok {
				out = append(out, t)
				break
			}
		}
	}
	return strings.Join(out, "\n")
}

// names is every licence the module's files name, in a stable order.
func (l modLicense) names() []string {
	seen := map[string]bool{}
	var out []string
	for _, t := range l.Licenses {
		for _, n := range classifyAll(t) {
			if !seen[n] {
				seen[n] = true
				out = append(out, n)
			}
		}
	}
	sort.Strings(out)
	return out
}

// licenseField is a DEP-5 License field: the short name, then the text.
func licenseField(name, text string) string { return textField("License", name, text) }

// textField writes a DEP-5 field whose first line is first and whose
// following lines hold text, one leading space each and "." for blank
// lines (copyright-format 1.0, "Formatted text").
func textField(key, first, text string) string {
	var b strings.Builder
	b.WriteString(key + ":")
	if first != "" {
		b.WriteString(" " + first)
	}
	b.WriteString("\n")
	text = strings.TrimLeft(strings.TrimRight(text, "\n \t"), "\n")
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimRight(line, " \t\r")
		if line == "" {
			line = "."
		}
		b.WriteString(" " + line + "\n")
	}
	return b.String()
}

// copyrightInputs is what the copyright file is made from.
type copyrightInputs struct {
	Binary     string // the Go binary: its build info lists the modules linked in
	Maintainer string // "Name <mail>", the upstream contact
	GoRoot     string // for the Go distribution's LICENSE (the runtime and standard library)
	ModCache   string // GOMODCACHE, for each module's licence
	// Notices are the NOTICE files of posagent's own packages that the
	// binary links in (see linkedPackages): third-party data such as font
	// glyphs compiled into the program.
	Notices []Notice
	// Packages are the import paths the binary links in (go list -deps);
	// nil when unknown, and then every font of golang.org/x/image is
	// listed.
	Packages map[string]bool
}

// Notice is one NOTICE file of a package in this repository.
type Notice struct {
	Dir  string // the package's directory, relative to the module root
	Text string
}

// copyright writes the DEP-5 copyright file (copyright-format 1.0). A Go
// binary is statically linked, so it carries the standard library and every
// module in its build info: each gets a paragraph with its licence, read
// from the very module version that was compiled in. Fonts compiled into
// the binary (golang.org/x/image) get their own paragraphs.
func copyright(in copyrightInputs) (string, error) {
	bi, err := buildinfo.ReadFile(in.Binary)
	if err != nil {
		return "", fmt.Errorf("mkdeb: %s: %w", in.Binary, err)
	}
	var b strings.Builder
	b.WriteString("Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n")
	b.WriteString("Upstream-Name: posagent\n")
	b.WriteString("Upstream-Contact: " + in.Maintainer + "\n")
	b.WriteString("Comment: /usr/bin/posagent is a statically linked Go program (" + bi.GoVersion + ").\n" +
		" Besides posagent's own code it contains the Go runtime and standard library\n" +
		" and the Go modules listed below, at the versions named, as recorded in the\n" +
		" binary's build information (go version -m /usr/bin/posagent).\n")

	b.WriteString("\nFiles: *\nCopyright: " + in.Maintainer + "\n")
	b.WriteString(licenseField("proprietary", "All rights reserved. posagent is distributed to the terminals of its\n"+
		"operator only; no licence to copy, modify or redistribute it is granted."))

	used := map[string]bool{}
	goLicense, err := os.ReadFile(filepath.Join(in.GoRoot, "LICENSE"))
	if err != nil {
		return "", fmt.Errorf("mkdeb: the Go distribution's licence: %w", err)
	}
	b.WriteString("\nFiles: go/*\nCopyright: " + strings.Join(holders(string(goLicense), "The Go Authors"), "\n ") + "\n")
	b.WriteString("Comment: the Go runtime and standard library, " + bi.GoVersion + "\n")
	b.WriteString(licenseField(classify(string(goLicense)), string(goLicense)))

	for _, n := range in.Notices {
		name := classify(n.Text)
		if name == "" {
			return "", fmt.Errorf("mkdeb: %s/NOTICE: licence not recognised; add it to mkdeb's classify", n.Dir)
		}
		fmt.Fprintf(&b, "\nFiles: %s/*\nCopyright: %s\n", n.Dir, strings.Join(holders(n.Text, "see "+n.Dir+"/NOTICE"), "\n "))
		b.WriteString(textField("Comment", "from "+n.Dir+"/NOTICE:", n.Text))
		if _, ok := commonLicenses[name]; ok {
			used[name] = true
			b.WriteString("License: " + name + "\n")
		} else {
			b.WriteString(licenseField(name, n.Text))
		}
	}

	deps := append([]*debug.Module(nil), bi.Deps...)
	sort.Slice(deps, func(i, j int) bool { return deps[i].Path < deps[j].Path })
	for _, d := range deps {
		m := d
		if d.Replace != nil {
			m = d.Replace
		}
		l, err := moduleLicense(in.ModCache, m.Path, m.Version)
		if err != nil {
			return "", err
		}
		names := l.names()
		if len(names) == 0 {
			return "", fmt.Errorf("mkdeb: %s@%s: licence not recognised; add it to mkdeb's classifyAll", m.Path, m.Version)
		}
		all := l.text() + "\n" + strings.Join(l.Notices, "\n")
		fmt.Fprintf(&b, "\nFiles: %s/*\nCopyright: %s\n", d.Path, strings.Join(holders(all, "the "+d.Path+" authors"), "\n "))
		comment := "Go module " + m.Path + " " + m.Version
		if len(l.Notices) > 0 {
			b.WriteString(textField("Comment", comment+"; its NOTICE:", strings.Join(l.Notices, "\n")))
		} else {
			b.WriteString("Comment: " + comment + "\n")
		}
		// Texts Debian ships in /usr/share/common-licenses are
		// referenced; the others (which carry their holders' names) are
		// quoted.
		for _, n := range names {
			if _, ok := commonLicenses[n]; ok {
				used[n] = true
			}
		}
		expr := strings.Join(names, " and ")
		if q := l.quoted(); q != "" {
			b.WriteString(licenseField(expr, q))
		} else {
			b.WriteString("License: " + expr + "\n")
		}
		if d.Path == "golang.org/x/image" {
			fonts, err := fontParagraphs(in.ModCache, m.Version, string(goLicense), in.Packages)
			if err != nil {
				return "", err
			}
			b.WriteString(fonts)
		}
	}
	// Stand-alone paragraphs for the licences referenced by name.
	names := make([]string, 0, len(used))
	for n := range used {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(&b, "\nLicense: %s\n On Debian systems the full text of the %s licence is in\n %s.\n", n, n, commonLicenses[n])
	}
	return b.String(), nil
}

// fontParagraphs describes the fonts of golang.org/x/image that the binary
// draws with (Inconsolata bitmaps, the Go fonts), each only when one of its
// packages is linked in (pkgs nil: unknown, list both). Their terms are
// stated in the module: font/inconsolata/inconsolata.go and
// font/gofont/ttfs/README.
func fontParagraphs(modCache, version, goLicense string, pkgs map[string]bool) (string, error) {
	linked := func(prefix string) bool {
		if pkgs == nil {
			return true
		}
		for p := range pkgs {
			if p == prefix || strings.HasPrefix(p, prefix+"/") {
				return true
			}
		}
		return false
	}
	var b strings.Builder
	if linked("golang.org/x/image/font/gofont") {
		readme, err := os.ReadFile(filepath.Join(modCache, "golang.org/x/image@"+version, "font/gofont/ttfs/README"))
		if err != nil {
			return "", fmt.Errorf("mkdeb: the Go fonts' licence: %w", err)
		}
		b.WriteString("\nFiles: golang.org/x/image/font/gofont/*\nCopyright: " +
			strings.Join(holders(string(readme), "Bigelow & Holmes Inc."), "\n ") + "\n" +
			"Comment: the Go fonts (Go Mono in receipt previews)\n")
		b.WriteString(licenseField("BSD-3-Clause", string(readme)))
	}
	if linked("golang.org/x/image/font/inconsolata") {
		b.WriteString("\nFiles: golang.org/x/image/font/inconsolata/*\nCopyright: Raph Levien\n Cyreal\n" +
			"Comment: bitmaps of the Inconsolata font. The module states: \"Inconsolata\n" +
			" is copyright Raph Levien and Cyreal. This package is licensed under Go's\n" +
			" BSD-style license (https://golang.org/LICENSE) with their permission.\"\n")
		b.WriteString(licenseField("BSD-3-Clause", goLicense))
	}
	return b.String(), nil
}

var manName = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*\.([1-8])$`)

// manPages maps each page in dir (posagent.1, posagent-run.1, … as
// `posagent gen-docs --man DIR` writes them) to its place under
// /usr/share/man, gzipped -9n as policy §12.1 asks. "" gives none.
func manPages(dir string) (map[string][]byte, error) {
	out := map[string][]byte{}
	if dir == "" {
		return out, nil
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("mkdeb: man pages: %w", err)
	}
	for _, e := range entries {
		m := manName.FindStringSubmatch(e.Name())
		if e.IsDir() || m == nil {
			return nil, fmt.Errorf("mkdeb: man pages: %s is not a page (want NAME.SECTION, e.g. posagent.1)", filepath.Join(dir, e.Name()))
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("mkdeb: %w", err)
		}
		out["/usr/share/man/man"+m[1]+"/"+e.Name()+".gz"] = gzip9n(b)
	}
	return out, nil
}

// completionPaths is where each shell looks for completions of an
// installed command (bash-completion's completionsdir, zsh's
// vendor-completions as Debian's zsh package sets fpath, fish's
// vendor_completions.d), keyed by the file name gen-docs writes.
var completionPaths = map[string]string{
	"posagent.bash": "/usr/share/bash-completion/completions/posagent",
	"posagent.zsh":  "/usr/share/zsh/vendor-completions/_posagent",
	"_posagent":     "/usr/share/zsh/vendor-completions/_posagent",
	"posagent.fish": "/usr/share/fish/vendor_completions.d/posagent.fish",
}

// completions maps the scripts in dir to their places. "" gives none; a
// file mkdeb does not know is an error rather than silently left out.
func completions(dir string) (map[string]string, error) {
	out := map[string]string{}
	if dir == "" {
		return out, nil
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("mkdeb: completions: %w", err)
	}
	for _, e := range entries {
		dst, ok := completionPaths[e.Name()]
		if e.IsDir() || !ok {
			return nil, fmt.Errorf("mkdeb: completions: do not know where %s goes (have posagent.bash, posagent.zsh or _posagent, posagent.fish)", filepath.Join(dir, e.Name()))
		}
		out[filepath.Join(dir, e.Name())] = dst
	}
	return out, nil
}

// linkedPackages lists the packages mainPkg links in for t (go list -deps,
// run in srcDir with t's GOOS, GOARCH and GOARM), and the NOTICE files of
// those in this module, e.g. display/bitmapfont/NOTICE for the WenQuanYi
// glyphs. mainPkg "" gives none and a nil set (unknown).
func linkedPackages(srcDir, mainPkg string, t target) ([]Notice, map[string]bool, error) {
	if mainPkg == "" {
		return nil, nil, nil
	}
	cmd := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}\t{{if .Module}}{{if .Module.Main}}{{.Dir}}{{end}}{{end}}", mainPkg)
	cmd.Dir = srcDir
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH="+t.GOARCH, "GOARM="+t.GOARM, "CGO_ENABLED=0")
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			err = fmt.Errorf("%w: %s", err, bytes.TrimSpace(ee.Stderr))
		}
		return nil, nil, fmt.Errorf("mkdeb: go list -deps %s: %w", mainPkg, err)
	}
	root, err := filepath.Abs(srcDir)
	if err != nil {
		return nil, nil, fmt.Errorf("mkdeb: %w", err)
	}
	pkgs := map[string]bool{}
	var ns []Notice
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		path, dir, _ := strings.Cut(line, "\t")
		pkgs[path] = true
		if dir == "" {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, "NOTICE"))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, nil, fmt.Errorf("mkdeb: %w", err)
		}
		rel, err := filepath.Rel(root, dir)
		if err != nil {
			return nil, nil, fmt.Errorf("mkdeb: %w", err)
		}
		ns = append(ns, Notice{Dir: filepath.ToSlash(rel), Text: string(b)})
	}
	sort.Slice(ns, func(i, j int) bool { return ns[i].Dir < ns[j].Dir })
	return ns, pkgs, nil
}
