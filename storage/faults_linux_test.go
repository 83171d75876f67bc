package storage

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// bigSubject makes each order take a good part of a page, so the file has
// to grow after a few orders.
var bigSubject = strings.Repeat("大杯拿铁 ", 150)

// TestDiskFullFileSizeLimit runs the agent's write path in a child process
// whose RLIMIT_FSIZE is the current file size (SIGXFSZ ignored, so a write
// past it fails with EFBIG like a full disk does). Every order the child
// saw committed must be there afterwards, the file must pass the check,
// and the failing call must say why.
func TestDiskFullFileSizeLimit(t *testing.T) {
	if isChild() {
		diskFullChild(t)
		return
	}
	e := newEnv(t)
	before := makeHistory(t, e, 20)
	fi, err := os.Stat(e.path)
	if err != nil {
		t.Fatal(err)
	}
	cmd, stdin, sc, stderr := startChild(t, "TestDiskFullFileSizeLimit",
		[]string{"DB=" + e.path, "LIMIT=" + strconv.FormatInt(fi.Size(), 10)}, nil)
	stdin.Close()
	var committed []string
	var failure string
	var out strings.Builder
	for sc.Scan() {
		line := sc.Text()
		out.WriteString(line + "\n")
		switch {
		case strings.HasPrefix(line, "COMMITTED "):
			committed = append(committed, strings.TrimPrefix(line, "COMMITTED "))
		case strings.HasPrefix(line, "FAILED ") && failure == "":
			failure = strings.TrimPrefix(line, "FAILED ")
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v\n%s%s", err, &out, stderr)
	}
	t.Logf("child committed %d orders before the limit; error: %s", len(committed), failure)
	if failure == "" {
		t.Fatalf("the file size limit never produced an error:\n%s", &out)
	}
	if !strings.HasPrefix(failure, "storage: create order: disk full or file size limit reached") {
		t.Errorf("unclear error: %s", failure)
	}

	db := e.open(t) // no CorruptError: a failed commit leaves the file consistent
	defer db.Close()
	for _, o := range before {
		got, err := db.GetOrder(o.ClientSN)
		if err != nil || got.State != o.State {
			t.Errorf("order from before the fault: %+v, %v", got, err)
		}
	}
	for _, sn := range committed {
		got, err := db.GetOrder(sn)
		if err != nil || got.Subject != bigSubject {
			t.Errorf("order %s committed before the fault is gone: %v", sn, err)
		}
	}
	st, _ := db.Stats()
	if st.Orders != len(before)+len(committed) {
		t.Errorf("%d orders on disk, want %d (a failed create must not be half-stored)", st.Orders, len(before)+len(committed))
	}
	// With room again, sales go on and the counter never reuses a client_sn.
	n := mustCreate(t, db, 1)
	if n.Seq <= uint64(len(before)+len(committed)) {
		t.Errorf("seq %d reused", n.Seq)
	}
}

func diskFullChild(t *testing.T) {
	limit, err := strconv.ParseUint(os.Getenv("LIMIT"), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	signal.Ignore(syscall.SIGXFSZ)
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &rl); err != nil {
		t.Fatal(err)
	}
	rl.Cur = limit
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &rl); err != nil {
		t.Fatal(err)
	}
	db, err := Open(os.Getenv("DB"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	failures := 0
	for i := 0; i < 500 && failures < 3; i++ {
		o := Order{AmountCents: 100, Subject: bigSubject, State: "submitting"}
		if err := db.CreateOrder(&o, "T1-"); err != nil {
			os.Stdout.WriteString("FAILED " + strings.ReplaceAll(err.Error(), "\n", " ") + "\n")
			failures++
			continue
		}
		os.Stdout.WriteString("COMMITTED " + o.ClientSN + "\n")
	}
	if failures == 0 {
		t.Fatal("no write failed")
	}
}

// TestDiskFullTmpfs fills a real 256 KiB tmpfs (needs mount privilege;
// TestDiskFullFileSizeLimit covers the same path without it).
func TestDiskFullTmpfs(t *testing.T) {
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=256k,mode=0700"); err != nil {
		t.Skipf("cannot mount a tmpfs here (%v); the RLIMIT_FSIZE test covers a full disk", err)
	}
	t.Cleanup(func() { syscall.Unmount(dir, 0) })
	e := newEnv(t)
	e.path = filepath.Join(dir, "posagent.db")
	db := e.open(t)
	var committed []Order
	var failure error
	for i := 0; i < 1000 && failure == nil; i++ {
		o := Order{AmountCents: 100, Subject: bigSubject}
		if failure = db.CreateOrder(&o, "T-"); failure == nil {
			committed = append(committed, o)
		}
	}
	if failure == nil {
		t.Fatal("256 KiB tmpfs never filled up")
	}
	t.Logf("tmpfs full after %d orders: %v", len(committed), failure)
	if !strings.Contains(failure.Error(), "disk full") {
		t.Errorf("unclear error: %v", failure)
	}
	// The handle stays usable for reading, and updates fail cleanly.
	if _, err := db.GetOrder(committed[0].ClientSN); err != nil {
		t.Errorf("read after disk full: %v", err)
	}
	db.Close()
	// Reopening on the still-full filesystem works: Open writes nothing
	// when there is nothing to migrate or repair.
	db = e.open(t)
	defer db.Close()
	for _, o := range committed {
		if got, err := db.GetOrder(o.ClientSN); err != nil || got.Subject != o.Subject {
			t.Fatalf("order %s lost: %v", o.ClientSN, err)
		}
	}
	if st, _ := db.Stats(); st.Orders != len(committed) {
		t.Errorf("%d orders, want %d", st.Orders, len(committed))
	}
}

// TestReadOnlyDirectory: a database in a directory the service cannot
// write to. As root (which ignores permission bits) the checks run in a
// child process as the nobody user.
func TestReadOnlyDirectory(t *testing.T) {
	if isChild() {
		readOnlyChecks(t, os.Getenv("BASE"))
		return
	}
	base, err := os.MkdirTemp("", "posagent-ro-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		filepath.Walk(base, func(p string, _ os.FileInfo, _ error) error { return os.Chmod(p, 0o700) })
		os.RemoveAll(base)
	})
	e := &env{path: filepath.Join(base, "data", "posagent.db"), clock: newClock(), logs: &syncBuffer{}}
	orders := makeHistory(t, e, 5)
	if err := os.MkdirAll(filepath.Join(base, "fresh"), 0o700); err != nil {
		t.Fatal(err)
	}
	corrupt := filepath.Join(base, "data", "corrupt.db")
	if err := os.WriteFile(corrupt, []byte(strings.Repeat("not a database ", 1000)), 0o600); err != nil {
		t.Fatal(err)
	}

	asRoot := os.Geteuid() == 0
	var uid, gid int
	if asRoot {
		uid, gid = nobody(t)
		bin := filepath.Join(base, "storage.test")
		copyFile(t, os.Args[0], bin, 0o755)
		filepath.Walk(base, func(p string, _ os.FileInfo, _ error) error { return os.Lchown(p, uid, gid) })
		os.Chmod(base, 0o755)
	}
	// The situation: data dir and database file read-only, an empty
	// read-only dir for a new database.
	must(t, os.Chmod(e.path, 0o400))
	must(t, os.Chmod(filepath.Join(base, "data"), 0o500))
	must(t, os.Chmod(filepath.Join(base, "fresh"), 0o500))

	if asRoot {
		cmd := exec.Command(filepath.Join(base, "storage.test"), "-test.run=^TestReadOnlyDirectory$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), childEnv+"=1", "BASE="+base)
		cmd.Dir = base
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
		out, err := cmd.CombinedOutput()
		t.Logf("child as uid %d:\n%s", uid, out)
		if err != nil {
			t.Fatalf("read-only checks failed as uid %d: %v", uid, err)
		}
	} else {
		readOnlyChecks(t, base)
	}

	// Nothing that was committed is lost: writable again, everything is there.
	must(t, os.Chmod(filepath.Join(base, "data"), 0o700))
	must(t, os.Chmod(e.path, 0o600))
	db := e.open(t)
	defer db.Close()
	for _, o := range orders {
		if got, err := db.GetOrder(o.ClientSN); err != nil || got.State != o.State {
			t.Errorf("order %s after read-only period: %+v %v", o.ClientSN, got, err)
		}
	}
}

func readOnlyChecks(t *testing.T, base string) {
	logs := &syncBuffer{}
	opts := func() *Options {
		e := &env{clock: newClock(), logs: logs}
		return e.opts()
	}
	// A new database in a read-only directory.
	fresh := filepath.Join(base, "fresh", "posagent.db")
	_, err := Open(fresh, opts())
	t.Logf("new db in read-only dir: %v", err)
	if err == nil || !strings.Contains(err.Error(), fresh) || !strings.Contains(err.Error(), "permission denied") {
		t.Errorf("Open(%s) = %v, want a permission error naming the file", fresh, err)
	}
	if _, err := os.Stat(fresh); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("something was created: %v", err)
	}

	// An existing read-only database: read-write fails clearly, read-only works.
	path := filepath.Join(base, "data", "posagent.db")
	_, err = Open(path, opts())
	t.Logf("read-write open of a read-only file: %v", err)
	var ce *CorruptError
	if err == nil || errors.As(err, &ce) || !strings.Contains(err.Error(), "permission denied") {
		t.Errorf("Open = %v, want a permission error", err)
	}
	ro := opts()
	ro.ReadOnly = true
	db, err := Open(path, ro)
	if err != nil {
		t.Fatalf("read-only Open: %v", err)
	}
	list, err := db.ListOrders(Filter{})
	if err != nil || len(list) != 5 {
		t.Errorf("read-only list: %d orders, %v", len(list), err)
	}
	o := Order{AmountCents: 1}
	if err := db.CreateOrder(&o, ""); err == nil {
		t.Error("CreateOrder on a read-only handle succeeded")
	}
	db.Close()

	// A corrupt file that cannot be moved aside: reported, left in place, untouched.
	corrupt := filepath.Join(base, "data", "corrupt.db")
	before := fileHash(t, corrupt)
	_, err = Open(corrupt, opts())
	t.Logf("corrupt file in read-only dir: %v", err)
	if !errors.As(err, &ce) || ce.MovedTo != "" || !strings.Contains(err.Error(), "could not move it aside") {
		t.Errorf("Open = %v, want CorruptError that could not move the file", err)
	}
	if fileHash(t, corrupt) != before {
		t.Error("corrupt file changed")
	}
	if !strings.Contains(logs.String(), "could not be moved aside") {
		t.Errorf("not logged loudly:\n%s", logs)
	}
}

func nobody(t *testing.T) (int, int) {
	uid, gid := 65534, 65534
	if u, err := user.Lookup("nobody"); err == nil {
		uid, _ = strconv.Atoi(u.Uid)
		gid, _ = strconv.Atoi(u.Gid)
	}
	return uid, gid
}

func copyFile(t *testing.T, from, to string, mode os.FileMode) {
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	must(t, dst.Close())
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestReadOnlyFilesystem: the SD card was remounted read-only after I/O
// errors (a real read-only tmpfs; needs mount privilege, the permission
// variant above runs everywhere).
func TestReadOnlyFilesystem(t *testing.T) {
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=1m,mode=0700"); err != nil {
		t.Skipf("cannot mount a tmpfs here (%v); TestReadOnlyDirectory covers the permission case", err)
	}
	t.Cleanup(func() { syscall.Unmount(dir, 0) })
	e := newEnv(t)
	e.path = filepath.Join(dir, "posagent.db")
	orders := makeHistory(t, e, 6)
	if err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_REMOUNT|syscall.MS_RDONLY, "size=1m,mode=0700"); err != nil {
		t.Fatalf("remount read-only: %v", err)
	}
	_, err := Open(e.path, e.opts())
	t.Logf("read-write Open on a read-only filesystem: %v", err)
	if err == nil || !strings.Contains(err.Error(), "filesystem is read-only") || !strings.Contains(err.Error(), e.path) {
		t.Errorf("Open = %v, want a clear read-only filesystem error", err)
	}
	o := e.opts()
	o.ReadOnly = true
	db, err := Open(e.path, o)
	if err != nil {
		t.Fatalf("read-only Open: %v", err)
	}
	defer db.Close()
	for _, want := range orders {
		if got, err := db.GetOrder(want.ClientSN); err != nil || got.State != want.State {
			t.Errorf("order %s: %+v %v", want.ClientSN, got, err)
		}
	}
}
