package metrics_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"posagent/agent/metrics"
	"posagent/gateway"
)

// The alerting rules and their unit tests live with the docs.
var rulesDir = filepath.Join("..", "..", "docs", "monitoring")

const (
	rulesFile     = "posagent-alerts.yml"
	rulesTestFile = "posagent-alerts.test.yml"
)

func promtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("SKIPPED LOUDLY: promtool not installed (Debian: apt-get install prometheus, then stop the service it starts): the alert rules are not checked")
	}
	return p
}

// TestAlertRules runs Prometheus' own checker on the rules file (syntax,
// PromQL, templates) and its rule unit tests (posagent-alerts.test.yml:
// each alert fires at its threshold and stays quiet below it).
func TestAlertRules(t *testing.T) {
	bin := promtool(t)
	for _, args := range [][]string{{"check", "rules", rulesFile}, {"test", "rules", rulesTestFile}} {
		cmd := exec.Command(bin, args...)
		cmd.Dir = rulesDir
		out, err := cmd.CombinedOutput()
		t.Logf("promtool %s:\n%s", strings.Join(args, " "), out)
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		if args[0] == "check" {
			if m := regexp.MustCompile(`SUCCESS: (\d+) rules found`).FindSubmatch(out); m != nil {
				fmt.Printf("promtool check rules: %s rules, all valid\n", m[1])
			}
		}
	}
}

// TestRulesNameRealMetrics: every posagent_* series the rules and their
// tests use is one the agent exports, so a renamed metric cannot leave an
// alert silently watching nothing.
func TestRulesNameRealMetrics(t *testing.T) {
	m := metrics.New(metrics.Options{})
	// Labelled families appear once they have a child.
	m.Sale("upay", "paid")
	m.CheckedIn("upay", time.Unix(1, 0))
	m.SetDevice(metrics.Keypad, true)
	m.SetPaper(metrics.PaperOK)
	m.GatewayError("upay", "query", &gateway.Error{Class: gateway.Unknown})
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, mf := range mfs {
		have[mf.GetName()] = true
	}
	used := map[string]bool{}
	for _, f := range []string{rulesFile, rulesTestFile} {
		b, err := os.ReadFile(filepath.Join(rulesDir, f))
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range regexp.MustCompile(`\bposagent_[a-z_]+\b`).FindAllString(string(b), -1) {
			used[n] = true
		}
	}
	var names []string
	for n := range used {
		names = append(names, n)
		if !have[n] {
			t.Errorf("the rules use %s, which the agent does not export", n)
		}
	}
	sort.Strings(names)
	if len(names) < 7 {
		t.Errorf("the rules use only %v", names)
	}
}

// TestDocsListEveryMetric: docs/monitoring/README.md documents every
// posagent_* metric the agent exports, and no metric it does not.
func TestDocsListEveryMetric(t *testing.T) {
	m := metrics.New(metrics.Options{})
	m.Sale("upay", "paid")
	m.CheckedIn("upay", time.Unix(1, 0))
	m.SetDevice(metrics.Keypad, true)
	m.SetPaper(metrics.PaperOK)
	m.GatewayError("upay", "query", &gateway.Error{Class: gateway.Unknown})
	// One failed request through the transport: the latency histogram and
	// the transport error counter appear with their first child.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) }))
	defer srv.Close()
	if resp, err := (&http.Client{Transport: m.Transport(nil, "upay")}).Get(srv.URL); err == nil {
		resp.Body.Close()
	}
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(rulesDir, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for _, n := range regexp.MustCompile("(?m)^\\| `(posagent_[a-z_]+)`").FindAllStringSubmatch(string(b), -1) {
		documented[n[1]] = true
	}
	exported := map[string]bool{}
	for _, mf := range mfs {
		if strings.HasPrefix(mf.GetName(), "posagent_") {
			exported[mf.GetName()] = true
		}
	}
	for n := range exported {
		if !documented[n] {
			t.Errorf("%s is exported but not in the README's metrics table", n)
		}
	}
	for n := range documented {
		if !exported[n] {
			t.Errorf("the README documents %s, which the agent does not export", n)
		}
	}
}
