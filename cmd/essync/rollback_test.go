package main

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/essync/essync/esindex"
	"github.com/essync/essync/esindex/estest"
	"github.com/essync/essync/mappings"
)

// completeIndex makes an empty, complete (verified) concrete index of alias
// named for time at, and its similar index: enough for the alias moves of
// rollback, which go live in pairs.
func completeIndex(t *testing.T, es *elasticsearch.Client, alias string, at time.Time) string {
	t.Helper()
	ctx := context.Background()
	index := esindex.NewIndexName(alias, at)
	for _, name := range []string{index, esindex.NewIndexName(mappings.SimilarAlias(alias), at)} {
		if err := esindex.CreateIndex(ctx, es, name, []byte(`{"mappings":{"properties":{"product_id":{"type":"keyword"}}}}`)); err != nil {
			t.Fatal(err)
		}
		if err := esindex.FinishLoad(ctx, es, name, 0, 0); err != nil {
			t.Fatal(err)
		}
	}
	return index
}

// TestRollbackTakesTheAliasLease holds the alias's lease as a full run does:
// rollback must refuse with exit 4 and leave the alias where it is; with
// --wait-lock it waits for the lease and then moves the alias back.
func TestRollbackTakesTheAliasLease(t *testing.T) {
	es := estest.Client(t)
	ctx := context.Background()
	alias := estest.IndexName(t, "rollbacklease")
	t0 := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	older := completeIndex(t, es, alias, t0)
	live := completeIndex(t, es, alias, t0.Add(time.Hour))
	if _, err := esindex.SwapPair(ctx, es, alias, live); err != nil {
		t.Fatal(err)
	}
	aliasOn := func() []string {
		t.Helper()
		on, err := esindex.AliasIndices(ctx, es, alias)
		if err != nil {
			t.Fatal(err)
		}
		return on
	}

	full, err := esindex.AcquireLease(ctx, es, alias, esindex.LeaseOptions{Command: "essync full"})
	if err != nil {
		t.Fatal(err)
	}
	defer full.Release(ctx)
	if code := runArgs("essync", "rollback", "--index", alias, "--es-url", estest.URL()); code != exitLeaseHeld {
		t.Errorf("rollback while a full run holds the lease: exit %d, want %d", code, exitLeaseHeld)
	}
	if on := aliasOn(); !slices.Equal(on, []string{live}) {
		t.Fatalf("a refused rollback moved the alias to %v, want [%s]", on, live)
	}
	if holder, found, _ := esindex.ReadLease(ctx, es, alias); !found || holder.RunID != full.Info().RunID {
		t.Fatalf("the refused rollback touched the full run's lease: %+v found %v", holder, found)
	}

	// The full run ends while rollback waits for the lease.
	go func() {
		time.Sleep(1500 * time.Millisecond)
		full.Release(ctx)
	}()
	if code := runArgs("essync", "rollback", "--index", alias, "--wait-lock", "1m", "--es-url", estest.URL()); code != exitOK {
		t.Fatalf("rollback --wait-lock after the lease was released: exit %d, want 0", code)
	}
	if on := aliasOn(); !slices.Equal(on, []string{older}) {
		t.Errorf("after rollback the alias is on %v, want [%s]", on, older)
	}
	if _, found, err := esindex.ReadLease(ctx, es, alias); err != nil || found {
		t.Errorf("rollback left its lease behind (found %v, err %v)", found, err)
	}
}
