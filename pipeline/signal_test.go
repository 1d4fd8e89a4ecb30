package pipeline_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/essync/essync/esindex"
	"github.com/essync/essync/esindex/estest"
	"github.com/essync/essync/pipeline"
)

// TestSignalStopsARunCleanly sends SIGINT and SIGTERM to a real essync full
// run while its bulk load is in flight: it must exit 130/143, leave the alias
// where it was, release its lease, and write a report that says why.
func TestSignalStopsARunCleanly(t *testing.T) {
	es := estest.Client(t)
	ctx := context.Background()
	alias := estest.IndexName(t, "signal")
	cfg := e2eConfig(t, alias)
	first, err := pipeline.Full(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "essync")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/essync/essync/cmd/essync").CombinedOutput(); err != nil {
		t.Fatalf("build essync: %v\n%s", err, out)
	}
	for _, tc := range []struct {
		sig  syscall.Signal
		code int
	}{{syscall.SIGINT, 130}, {syscall.SIGTERM, 143}} {
		proxy := estest.NewFaultProxy(t, estest.URL(), []estest.Fault{estest.None, estest.Stall})
		report := filepath.Join(t.TempDir(), "r.json")
		cmd := exec.Command(bin, "full", "--catalog", cfg.CatalogPath, "--images", cfg.Catalog.ImagesDir,
			"--index", alias, "--exact", "--replicas", "0", "--bulk-bytes", "40000", "--bulk-workers", "1",
			"--es-url", proxy.URL, "--cache", filepath.Join(t.TempDir(), "cache.bolt"), "--report", report)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		select {
		case <-proxy.Stalled():
		case <-time.After(3 * time.Minute):
			cmd.Process.Kill()
			t.Fatal("the run never reached its second bulk request")
		}
		cmd.Process.Signal(tc.sig)
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		select {
		case err = <-exited:
		case <-time.After(time.Minute):
			cmd.Process.Kill()
			t.Fatalf("%v: the run did not stop", tc.sig)
		}
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != tc.code {
			t.Errorf("%v: exit %v, want %d", tc.sig, err, tc.code)
		}
		if live, _ := esindex.AliasIndices(ctx, es, alias); !slices.Equal(live, []string{first.Index.Live}) {
			t.Errorf("%v: alias on %v, want %s", tc.sig, live, first.Index.Live)
		}
		if _, held, _ := esindex.ReadLease(ctx, es, alias); held {
			t.Errorf("%v: the lease was not released", tc.sig)
		}
		var rep pipeline.Report
		b, err := os.ReadFile(report)
		if err != nil || json.Unmarshal(b, &rep) != nil || !strings.Contains(rep.Error, "interrupted by") {
			t.Errorf("%v: report %s (err %v) should say the run was interrupted", tc.sig, b, err)
		}
	}
	if n, err := esindex.Count(ctx, es, alias); err != nil || n != 48 {
		t.Errorf("readers see %d documents (err %v)", n, err)
	}
}
