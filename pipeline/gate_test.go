package pipeline_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/essync/essync/esindex"
	"github.com/essync/essync/esindex/estest"
	"github.com/essync/essync/pipeline"
)

// publishedFirst runs a good full load and returns the live index and the
// alias's indices, the state every gate failure must leave untouched.
func publishedFirst(t *testing.T, cfg pipeline.Config) (string, []esindex.ManagedIndex) {
	t.Helper()
	es := estest.Client(t)
	first, err := pipeline.Full(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	second, err := pipeline.Full(context.Background(), cfg) // so one index is kept for rollback
	if err != nil {
		t.Fatal(err)
	}
	indices, err := esindex.ListIndices(context.Background(), es, cfg.Alias)
	if err != nil || len(indices) != 2 || indices[0].Name != first.Index.Live {
		t.Fatalf("setup: indices %+v (err %v)", indices, err)
	}
	return second.Index.Live, indices
}

// assertUntouched checks the alias still points at live, with its 48
// documents, and that the alias's indices are exactly before (nothing pruned,
// the failed run's index gone).
func assertUntouched(t *testing.T, alias, live string, before []esindex.ManagedIndex) {
	t.Helper()
	es := estest.Client(t)
	ctx := context.Background()
	got, err := esindex.AliasIndices(ctx, es, alias)
	if err != nil || !slices.Equal(got, []string{live}) {
		t.Errorf("alias on %v (err %v), want the previous %s", got, err, live)
	}
	if n, err := esindex.Count(ctx, es, alias); err != nil || n != 48 {
		t.Errorf("readers see %d documents (err %v), want the previous 48", n, err)
	}
	after, err := esindex.ListIndices(ctx, es, alias)
	if err != nil || !slices.Equal(after, before) {
		t.Errorf("indices after the failed run %+v, want exactly %+v (previous kept, half-built deleted)", after, before)
	}
	if _, held, err := esindex.ReadLease(ctx, es, alias); err != nil || held {
		t.Errorf("the lease is still held after the run (err %v)", err)
	}
}

// TestFullPublishGateKeepsTheAliasOnEveryFailure publishes once, then runs
// full through each failure in turn against the same alias: every bulk
// request refused (403, 400, 413), requests accepted and never answered,
// refused documents beyond --max-refused, too many skipped products. After
// each the alias, its 48 documents and the indices kept for rollback must be
// exactly as before, the half-built index gone and the lease released.
func TestFullPublishGateKeepsTheAliasOnEveryFailure(t *testing.T) {
	alias := estest.IndexName(t, "gate")
	good := e2eConfig(t, alias)
	live, before := publishedFirst(t, good)
	for _, tc := range []struct {
		fault  estest.Fault
		status string
		reason string
	}{
		{estest.Refuse403, "(403)", "unauthorized for user [essync]"},
		{estest.Refuse400, "(400)", "Malformed action/metadata"},
		{estest.Refuse413, "(413)", "Request Entity Too Large"},
	} {
		t.Run("refused "+tc.status, func(t *testing.T) {
			proxy := estest.NewFaultProxy(t, estest.URL(), nil).Then(tc.fault)
			cfg := good
			cfg.ES = &esindex.Config{URLs: []string{proxy.URL}, MaxRetries: 1}
			rep, err := pipeline.Full(context.Background(), cfg)
			var refused *esindex.RefusedError
			if !errors.As(err, &refused) || !strings.Contains(err.Error(), tc.status) || !strings.Contains(err.Error(), tc.reason) {
				t.Fatalf("err = %v, want the server's refusal %s naming %q", err, tc.status, tc.reason)
			}
			if proxy.Count(tc.fault) > 2 {
				t.Errorf("%d refused requests: the run should stop at the first (one per worker at most)", proxy.Count(tc.fault))
			}
			if rep.Index.Live != "" || rep.Index.Discarded == "" {
				t.Errorf("report: live %q discarded %q, want nothing live and the half-built index deleted", rep.Index.Live, rep.Index.Discarded)
			}
			assertUntouched(t, alias, live, before)
		})
	}

	t.Run("stuck requests", func(t *testing.T) {
		proxy := estest.NewFaultProxy(t, estest.URL(), nil).Then(estest.Stall)
		cfg := good
		cfg.ES = &esindex.Config{URLs: []string{proxy.URL}, MaxRetries: 1}
		cfg.Bulk = esindex.BulkOptions{GiveUpAfter: 3 * time.Second}
		done := make(chan error, 1)
		go func() {
			_, err := pipeline.Full(context.Background(), cfg)
			done <- err
		}()
		var err error
		select {
		case err = <-done:
		case <-time.After(2 * time.Minute): // a generous bound: the run used to hang forever
			t.Fatal("a bulk request that is never answered still hangs the run past --give-up")
		}
		if !errors.Is(err, esindex.ErrGaveUp) {
			t.Fatalf("err = %v, want a give-up error", err)
		}
		if proxy.Count(estest.Stall) == 0 {
			t.Fatal("no request was stalled")
		}
		assertUntouched(t, alias, live, before)
	})

	t.Run("too many skipped", func(t *testing.T) {
		cfg := good
		cfg.CatalogPath = filepath.Join(e2eDir, "bad", "catalog.jl")
		cfg.Catalog.ImagesDir = filepath.Join(e2eDir, "bad", "images")
		cfg.MaxSkipped = 3
		if _, err := pipeline.Full(context.Background(), cfg); !errors.Is(err, pipeline.ErrTooManySkipped) {
			t.Fatalf("err %v, want ErrTooManySkipped", err)
		}
		assertUntouched(t, alias, live, before)
	})

	t.Run("refused documents", func(t *testing.T) {
		cfg := good
		path, bad := refusingCatalog(t)
		cfg.CatalogPath = path
		rep, err := pipeline.Full(context.Background(), cfg)
		if !errors.Is(err, pipeline.ErrGate) || !strings.Contains(err.Error(), "refused 2 documents") {
			t.Fatalf("default --max-refused 0: err %v, want the gate to refuse 2 documents", err)
		}
		if got := refusedIDs(rep); !slices.Equal(got, bad) {
			t.Errorf("report lists refused %v, want %v", got, bad)
		}
		assertUntouched(t, alias, live, before)
	})
}

func refusedIDs(rep *pipeline.Report) []string {
	var ids []string
	for _, s := range rep.Skipped {
		if s.Stage == "index" && s.Kind == "rejected" && s.Reason != "" {
			ids = append(ids, s.ID)
		}
	}
	slices.Sort(ids)
	return ids
}

// refusingCatalog writes the e2e catalog with two products carrying a field
// Elasticsearch refuses whatever the order (a metadata field name).
func refusingCatalog(t *testing.T) (string, []string) {
	t.Helper()
	rows := e2eRows(t)
	bad := []string{"cat-orig", "rocket-mirror"}
	for _, r := range rows {
		if slices.Contains(bad, r["productId"].(string)) {
			r["_routing"] = "not allowed in a document"
		}
	}
	path := filepath.Join(t.TempDir(), "catalog.json")
	out, _ := json.Marshal(rows)
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
	return path, bad
}

// TestFullToleratedRefusalsAreTakenOutOfEveryList: with --max-refused the
// refused products are reported, and no published list names them.
func TestFullToleratedRefusalsAreTakenOutOfEveryList(t *testing.T) {
	es := estest.Client(t)
	alias := estest.IndexName(t, "docrefused")
	cfg := e2eConfig(t, alias)
	path, bad := refusingCatalog(t)
	cfg.CatalogPath = path
	cfg.MaxRefused = pipeline.Limit{Percent: 5, IsPercent: true} // 2 of 48 = 4.2%
	cfg.MaxSkipped = 2
	rep, err := pipeline.Full(context.Background(), cfg)
	if err != nil {
		t.Fatalf("--max-refused 5%%: %v", err)
	}
	if got := refusedIDs(rep); !slices.Equal(got, bad) || rep.Indexed != 46 || rep.Index.Refused != 2 {
		t.Errorf("report: refused %v indexed %d, want %v and 46", got, rep.Indexed, bad)
	}
	docs := readAll(t, es, alias)
	if len(docs) != 46 {
		t.Fatalf("alias holds %d documents, want 46", len(docs))
	}
	for id, d := range docs {
		if len(d.SimilarPI) != 20 {
			t.Errorf("%s lists %d similar products, want 20", id, len(d.SimilarPI))
		}
		for _, pi := range d.SimilarPI {
			if _, ok := docs[pi]; !ok {
				t.Errorf("%s lists %s, which is not in the published index", id, pi)
			}
		}
	}
}

func TestFullKeepFailedKeepsTheRefusedIndexForInspection(t *testing.T) {
	es := estest.Client(t)
	alias := estest.IndexName(t, "keepfailed")
	cfg := e2eConfig(t, alias)
	path, _ := refusingCatalog(t)
	cfg.CatalogPath = path
	cfg.KeepFailed = true
	rep, err := pipeline.Full(context.Background(), cfg)
	if !errors.Is(err, pipeline.ErrGate) || rep.Index.KeptFailed == "" {
		t.Fatalf("err %v kept %q, want a gate failure with the index kept", err, rep.Index.KeptFailed)
	}
	if live, _ := esindex.AliasIndices(context.Background(), es, alias); len(live) != 0 {
		t.Errorf("alias points at %v after a failed first run", live)
	}
	if n, err := esindex.Count(context.Background(), es, rep.Index.KeptFailed); err != nil || n == 0 {
		t.Errorf("kept index %s: %d documents, err %v", rep.Index.KeptFailed, n, err)
	}
}

// TestIncrementalToleratedRefusalsLeaveNoListBehind: new products whose
// documents Elasticsearch refuses are reported, named by no list, and
// leave no list document of their own in the similar index.
func TestIncrementalToleratedRefusalsLeaveNoListBehind(t *testing.T) {
	es := estest.Client(t)
	alias := estest.IndexName(t, "increfusedlist")
	cfg := e2eConfig(t, alias)
	path, bad := refusingCatalog(t)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var rows []map[string]any
	if err := json.Unmarshal(b, &rows); err != nil {
		t.Fatal(err)
	}
	rows = slices.DeleteFunc(rows, func(r map[string]any) bool { return slices.Contains(bad, r["productId"].(string)) })
	before := filepath.Join(t.TempDir(), "before.json")
	out, _ := json.Marshal(rows)
	if err := os.WriteFile(before, out, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg.CatalogPath = before
	if _, err := pipeline.Full(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	cfg.CatalogPath = path
	cfg.MaxRefused = pipeline.Limit{Count: 2}
	cfg.MaxSkipped = 2
	rep, err := pipeline.Incremental(context.Background(), cfg)
	if err != nil {
		t.Fatalf("incremental with --max-refused 2: %v", err)
	}
	if got := refusedIDs(rep); !slices.Equal(got, bad) {
		t.Errorf("refused %v, want %v", got, bad)
	}
	docs := readAll(t, es, alias) // fails on a list document without its product
	if len(docs) != 46 {
		t.Fatalf("alias holds %d documents, want 46", len(docs))
	}
	for id, d := range docs {
		for _, pi := range d.SimilarPI {
			if slices.Contains(bad, pi) {
				t.Errorf("%s lists refused %s", id, pi)
			}
		}
	}
}
