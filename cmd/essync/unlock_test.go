package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/essync/essync/esindex"
	"github.com/essync/essync/esindex/estest"
)

// plantLease writes a lease document for alias as another run would have
// left it: held by pid on host, expiring at expires.
func plantLease(t *testing.T, es *elasticsearch.Client, alias, host string, pid int, expires time.Time) {
	t.Helper()
	ctx := context.Background()
	// Taking and releasing a lease creates essync-leases as a run does.
	l, err := esindex.AcquireLease(ctx, es, alias, esindex.LeaseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	l.Release(ctx)
	now := time.Now().UTC()
	body, _ := json.Marshal(esindex.LeaseInfo{Alias: alias, RunID: "planted", Host: host, PID: pid, Command: "essync full",
		StartedAt: now.Add(-time.Minute).Format(time.RFC3339), RenewedAt: now.Format(time.RFC3339), ExpiresAt: expires.UTC().Format(time.RFC3339)})
	res, err := es.Index(esindex.LeaseIndex, bytes.NewReader(body), es.Index.WithDocumentID(alias), es.Index.WithRefresh("true"))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.IsError() {
		t.Fatalf("plant lease: %s", res)
	}
	t.Cleanup(func() { esindex.BreakLease(context.Background(), es, alias) })
}

// deadPID returns the pid of a process that has exited (and was reaped).
func deadPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
}

// TestUnlockRefusesALiveRunHereUnlessForced: unlock breaks stale leases and
// leases of other hosts or dead pids as asked, but refuses (exit 4, saying
// --force) a lease whose holder is a live process on this host.
func TestUnlockRefusesALiveRunHereUnlessForced(t *testing.T) {
	es := estest.Client(t)
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	soon := time.Now().Add(time.Hour)
	for _, tc := range []struct {
		name       string
		host       string
		pid        int
		expires    time.Time
		force      bool
		wantCode   int
		wantBroken bool
	}{
		{"live pid on this host", host, os.Getpid(), soon, false, exitLeaseHeld, false},
		{"live pid on this host, --force", host, os.Getpid(), soon, true, exitOK, true},
		{"live pid on this host, expired lease", host, os.Getpid(), time.Now().Add(-time.Minute), false, exitOK, true},
		{"dead pid on this host", host, deadPID(t), soon, false, exitOK, true},
		{"other host", "build-host-elsewhere", os.Getpid(), soon, false, exitOK, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			alias := estest.IndexName(t, "unlocklive")
			plantLease(t, es, alias, tc.host, tc.pid, tc.expires)
			args := []string{"essync", "unlock", "--index", alias, "--es-url", estest.URL()}
			if tc.force {
				args = append(args, "--force")
			}
			code, stderr := runCapturingStderr(t, args...)
			if code != tc.wantCode {
				t.Errorf("exit %d, want %d; stderr: %s", code, tc.wantCode, stderr)
			}
			holder, found, err := esindex.ReadLease(context.Background(), es, alias)
			if err != nil {
				t.Fatal(err)
			}
			if broken := !found; broken != tc.wantBroken {
				t.Errorf("lease broken: %v, want %v (holder %+v)", broken, tc.wantBroken, holder)
			}
			if tc.wantCode == exitLeaseHeld && (!strings.Contains(stderr, "--force") || !strings.Contains(stderr, "live run")) {
				t.Errorf("the refusal should name the live run and --force: %s", stderr)
			}
		})
	}
}

// runCapturingStderr runs essync in this process and returns its exit code
// and what it wrote to stderr.
func runCapturingStderr(t *testing.T, args ...string) (int, string) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	saved, logger := os.Stderr, slog.Default()
	os.Stderr = w
	got := make(chan []byte)
	go func() {
		var b bytes.Buffer
		b.ReadFrom(r)
		got <- b.Bytes()
	}()
	code := run(args)
	os.Stderr = saved
	slog.SetDefault(logger) // run() pointed the default logger at the pipe
	w.Close()
	return code, string(<-got)
}
