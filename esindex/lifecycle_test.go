package esindex_test

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/essync/essync/esindex"
	"github.com/essync/essync/esindex/estest"
	"github.com/essync/essync/mappings"
)

func sumField(t *testing.T, es *elasticsearch.Client, index string) int {
	t.Helper()
	res, err := es.Search(es.Search.WithIndex(index), es.Search.WithBody(strings.NewReader(`{"size":0,"aggs":{"s":{"sum":{"field":"n"}}}}`)))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out struct {
		Aggregations struct {
			S struct {
				Value float64 `json:"value"`
			} `json:"s"`
		} `json:"aggregations"`
	}
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return int(out.Aggregations.S.Value)
}

// load makes a complete, verified index of n documents named for time at.
func load(t *testing.T, es *elasticsearch.Client, alias string, at time.Time, n int) string {
	t.Helper()
	ctx := context.Background()
	index := esindex.NewIndexName(alias, at)
	if err := esindex.CreateIndex(ctx, es, index, []byte(testMapping)); err != nil {
		t.Fatal(err)
	}
	res, err := esindex.Bulk(ctx, es, index, docs(n), esindex.BulkOptions{})
	if err != nil || res.Succeeded != n {
		t.Fatalf("load %s: %v %+v", index, err, res)
	}
	if err := esindex.FinishLoad(ctx, es, index, 0, n); err != nil {
		t.Fatal(err)
	}
	return index
}

// loadPair makes a complete product index of n documents named for time at
// and its complete similar index.
func loadPair(t *testing.T, es *elasticsearch.Client, alias string, at time.Time, n int) (string, string) {
	t.Helper()
	return load(t, es, alias, at, n), load(t, es, mappings.SimilarAlias(alias), at, n)
}

// Indices go live, are pruned and rolled back in pairs: the product index
// and the similar index of the same timestamp, both aliases in one swap.
func TestLifecycleSwapPruneRollback(t *testing.T) {
	es := estest.Client(t)
	alias := estest.IndexName(t, "life")
	simAlias := mappings.SimilarAlias(alias)
	ctx := context.Background()
	t0 := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	aliasesOn := func(product, similar string) {
		t.Helper()
		if live, _ := esindex.AliasIndices(ctx, es, alias); !slices.Equal(live, []string{product}) {
			t.Fatalf("alias %s on %v, want [%s]", alias, live, product)
		}
		if live, _ := esindex.AliasIndices(ctx, es, simAlias); !slices.Equal(live, []string{similar}) {
			t.Fatalf("alias %s on %v, want [%s]", simAlias, live, similar)
		}
	}

	first, firstSim := loadPair(t, es, alias, t0, 3)
	if prev, err := esindex.SwapPair(ctx, es, alias, first); err != nil || len(prev) != 0 {
		t.Fatalf("first swap: prev %v err %v", prev, err)
	}
	aliasesOn(first, firstSim)
	second, secondSim := loadPair(t, es, alias, t0.Add(time.Hour), 4)
	if prev, err := esindex.SwapPair(ctx, es, alias, second); err != nil || !slices.Equal(prev, []string{first}) {
		t.Fatalf("second swap: prev %v err %v", prev, err)
	}
	aliasesOn(second, secondSim)
	if n, _ := esindex.Count(ctx, es, alias); n != 4 {
		t.Fatalf("alias counts %d documents, want 4 (the second index)", n)
	}
	// A half-built product index from a killed run (created, never
	// finished), a similar index whose run died before its product index,
	// and a complete index of essync before schema 3 (no similar index).
	orphan := esindex.NewIndexName(alias, t0.Add(30*time.Minute))
	if err := esindex.CreateIndex(ctx, es, orphan, []byte(testMapping)); err != nil {
		t.Fatal(err)
	}
	orphanSim := esindex.NewIndexName(simAlias, t0.Add(45*time.Minute))
	if err := esindex.CreateIndex(ctx, es, orphanSim, []byte(testMapping)); err != nil {
		t.Fatal(err)
	}
	legacy := load(t, es, alias, t0.Add(90*time.Minute), 2)
	third, thirdSim := loadPair(t, es, alias, t0.Add(2*time.Hour), 5)
	if _, err := esindex.SwapPair(ctx, es, alias, third); err != nil {
		t.Fatal(err)
	}
	aliasesOn(third, thirdSim)
	indices, err := esindex.ListIndices(ctx, es, alias)
	if err != nil || len(indices) != 5 {
		t.Fatalf("ListIndices = %+v %v, want the 5 product indices and none of %s's", indices, err, simAlias)
	}
	if m := indices[len(indices)-1]; m.Name != third || !m.Live || !m.Paired() || m.Similar != thirdSim {
		t.Errorf("live entry %+v, want %s paired with %s", m, third, thirdSim)
	}
	if back, err := esindex.Rollback(ctx, es, alias); err != nil || back != second {
		t.Fatalf("rollback to %q err %v, want %s (the legacy index has no lists to go live with)", back, err, second)
	}
	aliasesOn(second, secondSim)
	if _, err := esindex.SwapPair(ctx, es, alias, third); err != nil {
		t.Fatal(err)
	}
	if _, err := esindex.SwapPair(ctx, es, alias, "elsewhere-20261128-100000.000"); err == nil {
		t.Error("SwapPair took an index that is not the alias's")
	}

	pruned, err := esindex.Prune(ctx, es, alias, 1)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(pruned)
	want := []string{first, orphan, legacy, firstSim, orphanSim}
	slices.Sort(want)
	if !slices.Equal(pruned, want) {
		t.Fatalf("pruned %v, want %v (keep live + 1 complete pair; unpaired and orphans go)", pruned, want)
	}
	back, err := esindex.Rollback(ctx, es, alias)
	if err != nil || back != second {
		t.Fatalf("rollback to %q err %v, want %s", back, err, second)
	}
	aliasesOn(second, secondSim)
	if _, err := esindex.Rollback(ctx, es, alias); err == nil {
		t.Fatal("second rollback should fail: nothing complete is older than the second index")
	}
}

func TestFinishLoadRefusesWrongCount(t *testing.T) {
	es := estest.Client(t)
	alias := estest.IndexName(t, "count")
	index := esindex.NewIndexName(alias, time.Now())
	ctx := context.Background()
	if err := esindex.CreateIndex(ctx, es, index, []byte(testMapping)); err != nil {
		t.Fatal(err)
	}
	if _, err := esindex.Bulk(ctx, es, index, docs(3), esindex.BulkOptions{}); err != nil {
		t.Fatal(err)
	}
	err := esindex.FinishLoad(ctx, es, index, 0, 4)
	if err == nil || !strings.Contains(err.Error(), "holds 3 documents, want 4") {
		t.Fatalf("err = %v, want a count mismatch", err)
	}
	indices, err := esindex.ListIndices(ctx, es, alias)
	if err != nil || len(indices) != 1 || indices[0].Complete {
		t.Fatalf("index must stay incomplete: %+v %v", indices, err)
	}
}

func TestScanReadsEveryDocumentOnce(t *testing.T) {
	es := estest.Client(t)
	alias := estest.IndexName(t, "scan")
	index := load(t, es, alias, time.Now(), 250)
	seen := map[string]bool{}
	err := esindex.Scan(context.Background(), es, index, []string{"n"}, 40, func(d esindex.StoredDoc) error {
		if seen[d.ID] {
			t.Errorf("%s seen twice", d.ID)
		}
		seen[d.ID] = true
		if !bytes.Contains(d.Source, []byte(`"n"`)) || bytes.Contains(d.Source, []byte("title")) {
			t.Errorf("source %s: want only field n", d.Source)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != 250 {
		t.Fatalf("scanned %d documents, want 250", len(seen))
	}
}

// A create whose answer was lost is retried by the client and finds the
// index it made: an empty, incomplete index is taken as its own; one that
// holds documents or is complete is another's, and refused.
func TestCreateIndexTakesUpOnlyAnEmptyIncompleteIndex(t *testing.T) {
	es := estest.Client(t)
	ctx := context.Background()
	alias := estest.IndexName(t, "recreate")
	empty := esindex.NewIndexName(alias, time.Now())
	for range 2 {
		if err := esindex.CreateIndex(ctx, es, empty, []byte(testMapping)); err != nil {
			t.Fatalf("create %s again: %v", empty, err)
		}
	}
	filled := esindex.NewIndexName(alias, time.Now().Add(time.Second))
	if err := esindex.CreateIndex(ctx, es, filled, []byte(testMapping)); err != nil {
		t.Fatal(err)
	}
	if _, err := esindex.Bulk(ctx, es, filled, docs(2), esindex.BulkOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := esindex.Refresh(ctx, es, filled); err != nil {
		t.Fatal(err)
	}
	complete := load(t, es, alias, time.Now().Add(2*time.Second), 0)
	for _, index := range []string{filled, complete} {
		if err := esindex.CreateIndex(ctx, es, index, []byte(testMapping)); err == nil || !strings.Contains(err.Error(), "resource_already_exists_exception") {
			t.Errorf("create %s over an index in use: %v, want already exists", index, err)
		}
	}
}
