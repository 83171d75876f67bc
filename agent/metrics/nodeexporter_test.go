package metrics_test

import (
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"posagent/agent/metrics"
)

// TestNodeExporterReadsTextfile hands the textfile to the real
// node_exporter (Debian's prometheus-node-exporter), with only its textfile
// collector, and scrapes it: the file must be accepted as it is written
// (node_textfile_scrape_error 0) and its samples served unchanged. The
// exporter gets an already-listening socket through systemd socket
// activation (--web.systemd-socket; sd_listen_fds(3): LISTEN_FDS and
// LISTEN_PID, fd 3), so the test needs no wait for it to start: the
// request queues in the socket until the exporter accepts it.
func TestNodeExporterReadsTextfile(t *testing.T) {
	bin, err := exec.LookPath("prometheus-node-exporter")
	if err != nil {
		if bin, err = exec.LookPath("node_exporter"); err != nil {
			t.Skip("SKIPPED LOUDLY: node_exporter not installed (Debian: apt-get install prometheus-node-exporter): the textfile is not read by the real collector")
		}
	}
	dir := t.TempDir()
	m := metrics.New(metrics.Options{Version: "9.9.9"})
	m.Sale("upay", "paid")
	m.SetPaper(metrics.PaperNearEnd)
	m.SetOrders(metrics.Orders{Open: 3, Queued: 1})
	if err := m.WriteTextfile(filepath.Join(dir, "posagent.prom")); err != nil {
		t.Fatal(err)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	lf, err := ln.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	defer lf.Close()
	cmd := exec.Command("sh", "-c", `LISTEN_PID=$$ LISTEN_FDS=1 exec "$0" "$@"`, bin,
		"--web.systemd-socket", "--collector.disable-defaults", "--collector.textfile",
		"--collector.textfile.directory="+dir)
	cmd.ExtraFiles = []*os.File{lf} // fd 3
	// A file, not a pipe: the exporter logs a gathering error before it
	// answers (promhttp.HandlerFor), so the log is complete once the answer
	// is in.
	logf, err := os.Create(filepath.Join(t.TempDir(), "node_exporter.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd.Stderr = logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()

	client := &http.Client{Timeout: time.Minute} // a guard against a hang, not a wait
	resp, err := client.Get("http://" + ln.Addr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	mfs := parse(t, resp.Body)
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"node_textfile_scrape_error", nil, 0},
		{"posagent_sales_total", map[string]string{"gateway": "upay", "outcome": "paid"}, 1},
		{"posagent_printer_paper", map[string]string{"state": "near_end"}, 1},
		{"posagent_orders_open", nil, 3},
		{"posagent_orders_queued", nil, 1},
		{"posagent_build_info", map[string]string{"version": "9.9.9"}, 1},
	} {
		if got := value(mfs, c.name, c.labels); got != c.want {
			t.Errorf("node_exporter serves %s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if _, ok := mfs["node_textfile_mtime_seconds"]; !ok {
		t.Error("node_exporter reports no node_textfile_mtime_seconds (PosagentMetricsStale needs it)")
	}
	// The textfile's series must not clash with the exporter's own (go_*,
	// process_*): it would log "collected before with the same name" at
	// every scrape and drop samples.
	log, _ := os.ReadFile(logf.Name())
	if strings.Contains(string(log), "error gathering metrics") {
		t.Errorf("node_exporter could not gather the textfile cleanly:\n%s", log)
	}
}
