package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"posagent/agent"
	"posagent/gateway/upay"
	"posagent/provision"
	"posagent/storage"
)

// The running service holds the database's lock (bbolt allows one
// process), yet a merchant wants the day's export and a refund without
// stopping the counter. So the service answers those on a unix socket next
// to the database, mode 0600: only root and the service user reach it.
//
//	GET  /orders?limit=N&since=RFC3339   the order table
//	GET  /orders/{client_sn}             one order (?format=json: storage.Order)
//	GET  /export?format=csv|json&since=  the reconciliation export
//	POST /refund?client_sn=&amount=      cents; 0 = the rest
//	POST /checkin                        rotate the terminal key now
//	GET  /doctor?deep=1&style=ascii      the doctor's checks, run by the service;
//	                                     header X-Doctor: ok or fail
//	POST /archive?before=RFC3339&dir=    archive final orders (storage.Archive)
//	GET  /stats                          storage.Stats as JSON
//	POST /upload-log                     body: a support bundle, sent to Upay
//
// The CLI commands use it when the database is locked.

func socketPath(db string) string { return filepath.Join(filepath.Dir(db), "posagent.sock") }

func serveControl(ctx context.Context, cfg Config, path string, db *storage.DB, eng *agent.Engine, c *upay.Client, log *slog.Logger) error {
	os.Remove(path) // a socket left by a killed service
	ln, err := net.Listen("unix", path)
	if err != nil {
		return fmt.Errorf("control socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return fmt.Errorf("control socket: %w", err)
	}
	mux := http.NewServeMux()
	filter := func(r *http.Request) (storage.Filter, error) {
		var f storage.Filter
		if s := r.URL.Query().Get("since"); s != "" {
			t, err := time.Parse(time.RFC3339, s)
			if err != nil {
				return f, err
			}
			f.Since = t
		}
		f.Limit, _ = strconv.Atoi(r.URL.Query().Get("limit"))
		return f, nil
	}
	fail := func(w http.ResponseWriter, code int, err error) { http.Error(w, err.Error(), code) }
	mux.HandleFunc("GET /orders", func(w http.ResponseWriter, r *http.Request) {
		f, err := filter(r)
		if err != nil {
			fail(w, 400, err)
			return
		}
		// Streamed: the service's memory stays flat however long the list.
		if err := db.WriteOrderList(w, f); err != nil {
			log.Warn("control: order list", "err", err)
		}
	})
	mux.HandleFunc("GET /orders/{sn}", func(w http.ResponseWriter, r *http.Request) {
		o, err := db.GetOrder(r.PathValue("sn"))
		if errors.Is(err, storage.ErrNotFound) {
			fail(w, 404, fmt.Errorf("order %s: %w", r.PathValue("sn"), err))
			return
		} else if err != nil {
			fail(w, 500, err)
			return
		}
		if r.URL.Query().Get("format") == "json" {
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(o)
			return
		}
		storage.WriteOrderDetail(w, o)
	})
	mux.HandleFunc("GET /doctor", serveDoctor(cfg, db))
	mux.HandleFunc("POST /archive", func(w http.ResponseWriter, r *http.Request) {
		before, err := time.Parse(time.RFC3339, r.URL.Query().Get("before"))
		if err != nil {
			fail(w, 400, errors.New("before must be an RFC 3339 time"))
			return
		}
		res, err := db.Archive(before, r.URL.Query().Get("dir"))
		if err != nil {
			fail(w, 500, err)
			return
		}
		io.WriteString(w, archiveText(res, before.Local()))
	})
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, r *http.Request) {
		st, err := db.Stats()
		if err != nil {
			fail(w, 500, err)
			return
		}
		b, _ := json.MarshalIndent(st, "", "  ")
		w.Write(append(b, '\n'))
	})
	mux.HandleFunc("POST /upload-log", func(w http.ResponseWriter, r *http.Request) {
		if c == nil {
			fail(w, 400, errors.New("only Upay takes log uploads"))
			return
		}
		gz, err := io.ReadAll(io.LimitReader(r.Body, 16<<20))
		if err != nil {
			fail(w, 400, err)
			return
		}
		if err := uploadLog(r.Context(), c, gz); err != nil {
			fail(w, 502, err)
			return
		}
		fmt.Fprintf(w, "log uploaded: %d bytes, sent by the running service\n", len(gz))
	})
	mux.HandleFunc("GET /export", func(w http.ResponseWriter, r *http.Request) {
		f, err := filter(r)
		if err != nil {
			fail(w, 400, err)
			return
		}
		if r.URL.Query().Get("format") == "json" {
			err = db.ExportJSON(w, f)
		} else {
			err = db.ExportCSV(w, f)
		}
		if err != nil {
			log.Error("export", "err", err)
		}
	})
	mux.HandleFunc("POST /refund", func(w http.ResponseWriter, r *http.Request) {
		cents, err := strconv.ParseInt(r.URL.Query().Get("amount"), 10, 64)
		if err != nil {
			fail(w, 400, errors.New("amount must be cents"))
			return
		}
		o, err := eng.Refund(r.Context(), r.URL.Query().Get("client_sn"), cents)
		if err != nil {
			fail(w, 409, err)
			return
		}
		fmt.Fprintf(w, "refunded: order %s is %s, %s refunded in all\n", o.ClientSN, o.State, cfg.money(o.RefundedCents))
	})
	mux.HandleFunc("POST /checkin", func(w http.ResponseWriter, r *http.Request) {
		if c == nil {
			fail(w, 400, errors.New("this gateway has no check-in"))
			return
		}
		if err := provision.Checkin(r.Context(), db, c, "", time.Now()); err != nil {
			fail(w, 502, err)
			return
		}
		fmt.Fprintln(w, "checked in: the terminal has a new key")
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	context.AfterFunc(ctx, func() {
		srv.Close()
		os.Remove(path)
	})
	return nil
}

// viaService sends one request to the running service's control socket
// and copies its answer to out.
func viaService(cfg Config, method, path string, q url.Values, out io.Writer) error {
	_, err := serviceCall(cfg, method, path, q, out)
	return err
}

// serviceJSON GETs path (with its query) and decodes the JSON answer.
func serviceJSON(cfg Config, path string, v any) error {
	p, rawq, _ := strings.Cut(path, "?")
	q, _ := url.ParseQuery(rawq)
	var buf bytes.Buffer
	if _, err := serviceCall(cfg, http.MethodGet, p, q, &buf); err != nil {
		return err
	}
	return json.Unmarshal(buf.Bytes(), v)
}

// serviceUpload hands a support bundle to the service, which holds the
// terminal key, to send to Upay.
func serviceUpload(cfg Config, gz []byte, out io.Writer) error {
	_, err := serviceRequest(cfg, http.MethodPost, "/upload-log", nil, bytes.NewReader(gz), out)
	return err
}

// serviceCall is one request to the control socket; a non-200 answer is
// an error carrying the service's text.
func serviceCall(cfg Config, method, path string, q url.Values, out io.Writer) (*http.Response, error) {
	return serviceRequest(cfg, method, path, q, nil, out)
}

func serviceRequest(cfg Config, method, path string, q url.Values, body io.Reader, out io.Writer) (*http.Response, error) {
	sock := socketPath(cfg.Terminal.Database)
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}, Timeout: 15 * time.Minute} // doctor --deep verifies the whole database
	u := "http://posagent" + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("the service holds the database, and its control socket %s does not answer: %v", sock, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return resp, errors.New(plain(errors.New(strings.TrimSpace(string(b)))))
	}
	_, err = io.Copy(out, resp.Body)
	return resp, err
}
