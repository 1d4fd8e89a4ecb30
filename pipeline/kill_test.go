package pipeline_test

import (
	"context"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/essync/essync/esindex"
	"github.com/essync/essync/esindex/estest"
	"github.com/essync/essync/pipeline"
)

// TestFullKilledMidLoadLeavesTheAliasAndTheNextRunCompletes kills a real
// essync process (SIGKILL, no chance to clean up) while its bulk load is in
// flight, then checks readers still see the previous complete index and that
// the next run publishes and clears the half-built leftover.
func TestFullKilledMidLoadLeavesTheAliasAndTheNextRunCompletes(t *testing.T) {
	es := estest.Client(t)
	alias := estest.IndexName(t, "kill")
	ctx := context.Background()
	cfg := e2eConfig(t, alias)
	first, err := pipeline.Full(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}

	killDuringSecondBulk(t, "full", "--catalog", cfg.CatalogPath, "--images", cfg.Catalog.ImagesDir,
		"--index", alias, "--exact", "--replicas", "0", "--bulk-bytes", "40000")

	live, err := esindex.AliasIndices(ctx, es, alias)
	if err != nil || !slices.Equal(live, []string{first.Index.Live}) {
		t.Fatalf("after the kill the alias is on %v (err %v), want the previous index %s", live, err, first.Index.Live)
	}
	if n, err := esindex.Count(ctx, es, alias); err != nil || n != 48 {
		t.Fatalf("readers see %d documents (err %v), want the previous 48", n, err)
	}
	indices, _ := esindex.ListIndices(ctx, es, alias)
	var half string
	for _, m := range indices {
		if !m.Complete {
			half = m.Name
		}
	}
	if half == "" {
		t.Fatalf("expected the killed run's half-built index, got %+v", indices)
	}

	next, err := pipeline.Full(ctx, cfg)
	if err != nil {
		t.Fatalf("the run after the kill: %v", err)
	}
	if next.Indexed != 48 || !slices.Contains(next.Index.Pruned, half) {
		t.Fatalf("next run indexed %d, pruned %v; want 48 and the half-built %s gone", next.Indexed, next.Index.Pruned, half)
	}
	if n, _ := esindex.Count(ctx, es, alias); n != 48 {
		t.Fatalf("alias counts %d after the next run", n)
	}
}

// killDuringSecondBulk runs a real essync process with args, through a proxy
// that holds its second bulk request, and SIGKILLs it there: the process gets
// no chance to clean up, as when a machine dies mid-run.
func killDuringSecondBulk(t *testing.T, args ...string) {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "essync")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/essync/essync/cmd/essync").CombinedOutput(); err != nil {
		t.Fatalf("build essync: %v\n%s", err, out)
	}
	proxy := estest.NewFaultProxy(t, estest.URL(), []estest.Fault{estest.None, estest.Stall})
	args = append(args, "--es-url", proxy.URL, "--bulk-workers", "1",
		"--cache", filepath.Join(t.TempDir(), "cache.bolt"), "--report", filepath.Join(t.TempDir(), "r.json"))
	cmd := exec.Command(bin, args...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-proxy.Stalled():
	case <-time.After(3 * time.Minute):
		cmd.Process.Kill()
		t.Fatal("the run never reached its second bulk request")
	}
	cmd.Process.Kill()
	cmd.Wait()
	breakDeadLease(t, args)
}

// breakDeadLease checks that the killed run left its lease on the alias
// (it had no chance to release it) and breaks it as `essync unlock` does, so
// the next run need not wait for it to expire.
func breakDeadLease(t *testing.T, args []string) {
	t.Helper()
	alias := args[slices.Index(args, "--index")+1]
	holder, found, err := esindex.BreakLease(context.Background(), estest.Client(t), alias)
	if err != nil || !found || holder.Command != "essync "+args[0] {
		t.Fatalf("the killed run's lease on %s: %+v found %v err %v", alias, holder, found, err)
	}
}
