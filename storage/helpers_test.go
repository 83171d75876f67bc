package storage

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer collects log output from concurrent goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// fakeClock is a wall clock the test moves by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 11, 25, 9, 30, 0, 0, time.FixedZone("CST", 8*3600))}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type env struct {
	path  string
	clock *fakeClock
	logs  *syncBuffer
}

func newEnv(t testing.TB) *env {
	return &env{path: filepath.Join(t.TempDir(), "posagent.db"), clock: newClock(), logs: &syncBuffer{}}
}

func (e *env) opts() *Options {
	return &Options{
		LockTimeout: 200 * time.Millisecond,
		Now:         e.clock.Now,
		Logger:      slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
}

func (e *env) open(t testing.TB) *DB {
	t.Helper()
	db, err := Open(e.path, e.opts())
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return db
}

func fileHash(t testing.TB, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

func mustCreate(t testing.TB, db *DB, amount int64) Order {
	t.Helper()
	o := Order{Gateway: "upay", AmountCents: amount, Subject: "coffee", State: "submitting"}
	if err := db.CreateOrder(&o, "T1-"); err != nil {
		t.Fatalf("CreateOrder: %v", err)
	}
	return o
}

// The subprocess helpers below re-run this test binary with -test.run so
// that the child is a real, separate process with its own file lock,
// resource limits or user id.
const childEnv = "POSAGENT_STORAGE_CHILD"

func isChild() bool { return os.Getenv(childEnv) != "" }

// startChild runs the named test in a child process with extra
// environment; the caller reads its stdout line by line.
func startChild(t *testing.T, test string, extraEnv []string, configure func(*exec.Cmd)) (*exec.Cmd, io.WriteCloser, *bufio.Scanner, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+test+"$", "-test.count=1", "-test.v")
	cmd.Env = append(append(os.Environ(), childEnv+"=1"), extraEnv...)
	if configure != nil {
		configure(cmd)
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, stdin, bufio.NewScanner(stdout), &stderr
}

// waitLine reads the child's output until a line starting with prefix,
// collecting everything it read.
func waitLine(sc *bufio.Scanner, prefix string, seen *strings.Builder) (string, bool) {
	for sc.Scan() {
		line := sc.Text()
		seen.WriteString(line + "\n")
		if strings.HasPrefix(line, prefix) {
			return strings.TrimPrefix(line, prefix), true
		}
	}
	return "", false
}
