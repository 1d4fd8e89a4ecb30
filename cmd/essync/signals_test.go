package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/essync/essync/esindex"
	"github.com/essync/essync/esindex/estest"
)

// freezingProxy forwards to the real node until the first _bulk request
// arrives; from then on it holds every request (that one included) until
// the client gives up: Elasticsearch has stopped answering.
type freezingProxy struct {
	URL    string
	rp     *httputil.ReverseProxy
	once   sync.Once
	frozen chan struct{}
	held   chan string // "METHOD path" of each held request
}

func newFreezingProxy(t *testing.T, esURL string) *freezingProxy {
	t.Helper()
	target, err := url.Parse(esURL)
	if err != nil {
		t.Fatal(err)
	}
	p := &freezingProxy{rp: httputil.NewSingleHostReverseProxy(target), frozen: make(chan struct{}), held: make(chan string, 64)}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: p}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	p.URL = "http://" + ln.Addr().String()
	return p
}

func (p *freezingProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasSuffix(r.URL.Path, "/_bulk") {
		p.once.Do(func() { close(p.frozen) })
	}
	select {
	case <-p.frozen:
	default:
		p.rp.ServeHTTP(w, r)
		return
	}
	select {
	case p.held <- r.Method + " " + r.URL.Path:
	default:
	}
	<-r.Context().Done()
}

// TestSecondSignalExitsAtOnce runs a real essync full (this test binary in
// child mode) whose Elasticsearch stops answering during the bulk load. The
// first SIGINT starts the clean stop, which then hangs on the unanswered
// cleanup requests (--es-timeout 10m); a second SIGINT must end the process
// at once with 130, the alias where it was.
func TestSecondSignalExitsAtOnce(t *testing.T) {
	needORTLib(t)
	es := estest.Client(t)
	ctx := context.Background()
	alias := estest.IndexName(t, "secondsignal")
	before := completeIndex(t, es, alias, time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC))
	if _, err := esindex.SwapPair(ctx, es, alias, before); err != nil {
		t.Fatal(err)
	}
	proxy := newFreezingProxy(t, estest.URL())
	e2e := filepath.Join("..", "..", "testdata", "e2e")
	catalog, _ := filepath.Abs(filepath.Join(e2e, "catalog.json"))
	images, _ := filepath.Abs(filepath.Join(e2e, "images"))
	model, _ := filepath.Abs(filepath.Join("..", "..", "testdata", "models", "tiny-nchw-pad.json"))
	dir := t.TempDir()
	raw, _ := json.Marshal([]string{"essync", "full", "--catalog", catalog, "--images", images, "--model", model,
		"--exact", "--index", alias, "--replicas", "0", "--es-url", proxy.URL, "--es-timeout", "10m", "--bulk-timeout", "10m",
		"--no-cache", "--report", filepath.Join(dir, "report.json")})
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childArgsEnv+"="+string(raw))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{}) // closed when the process ended, with waitErr
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	defer func() {
		cmd.Process.Kill() // no-op once it exited
		<-exited
	}()
	waitFor := func(what string, ready <-chan struct{}) {
		t.Helper()
		select {
		case <-ready:
		case <-exited:
			t.Fatalf("essync exited (%v) before %s:\n%s", waitErr, what, out.Bytes())
		case <-time.After(3 * time.Minute):
			t.Fatalf("essync never reached %s", what)
		}
	}
	waitFor("its bulk load", proxy.frozen)

	cmd.Process.Signal(syscall.SIGINT)
	// The clean stop deletes the half-built index and releases the lease:
	// requests the frozen node never answers, so the first signal's handling
	// hangs there.
	cleaning := make(chan struct{})
	go func() {
		for req := range proxy.held {
			if strings.HasPrefix(req, "DELETE ") {
				close(cleaning)
				return
			}
		}
	}()
	waitFor("the clean stop after the first SIGINT", cleaning)

	cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-exited:
	case <-time.After(time.Minute): // the hung cleanup would take 10 minutes
		t.Fatalf("a second SIGINT did not end the process; output:\n%s", out.Bytes())
	}
	var exit *exec.ExitError
	if !errors.As(waitErr, &exit) || exit.ExitCode() != exitSIGINT {
		t.Errorf("exit %v, want %d; output:\n%s", waitErr, exitSIGINT, out.Bytes())
	}
	if !strings.Contains(out.String(), "second interrupt: exiting at once") {
		t.Errorf("the process should say it exits at once:\n%s", out.Bytes())
	}
	if live, err := esindex.AliasIndices(ctx, es, alias); err != nil || !slices.Equal(live, []string{before}) {
		t.Errorf("alias on %v (err %v), want [%s]: untouched", live, err, before)
	}
	// It had no time to release its lease; its pid is gone, so a plain
	// unlock breaks it.
	if code := runArgs("essync", "unlock", "--index", alias, "--es-url", estest.URL()); code != exitOK {
		t.Errorf("unlock of the dead run's lease: exit %d, want 0", code)
	}
	if _, found, err := esindex.ReadLease(ctx, es, alias); err != nil || found {
		t.Errorf("lease still there after unlock (found %v, err %v)", found, err)
	}
}
