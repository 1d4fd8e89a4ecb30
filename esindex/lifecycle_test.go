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

func TestLifecycleSwapPruneRollback(t *testing.T) {
	es := estest.Client(t)
	alias := estest.IndexName(t, "life")
	ctx := context.Background()
	t0 := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)

	first := load(t, es, alias, t0, 3)
	if prev, err := esindex.SwapAlias(ctx, es, alias, first); err != nil || len(prev) != 0 {
		t.Fatalf("first swap: prev %v err %v", prev, err)
	}
	second := load(t, es, alias, t0.Add(time.Hour), 4)
	if prev, err := esindex.SwapAlias(ctx, es, alias, second); err != nil || !slices.Equal(prev, []string{first}) {
		t.Fatalf("second swap: prev %v err %v", prev, err)
	}
	if n, _ := esindex.Count(ctx, es, alias); n != 4 {
		t.Fatalf("alias counts %d documents, want 4 (the second index)", n)
	}
	// A half-built index from a killed run: created, never finished.
	orphan := esindex.NewIndexName(alias, t0.Add(30*time.Minute))
	if err := esindex.CreateIndex(ctx, es, orphan, []byte(testMapping)); err != nil {
		t.Fatal(err)
	}
	third := load(t, es, alias, t0.Add(2*time.Hour), 5)
	if _, err := esindex.SwapAlias(ctx, es, alias, third); err != nil {
		t.Fatal(err)
	}
	pruned, err := esindex.Prune(ctx, es, alias, 1)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(pruned)
	if want := []string{first, orphan}; !slices.Equal(pruned, want) {
		t.Fatalf("pruned %v, want %v (keep live + 1 complete; orphans go)", pruned, want)
	}
	back, err := esindex.Rollback(ctx, es, alias)
	if err != nil || back != second {
		t.Fatalf("rollback to %q err %v, want %s", back, err, second)
	}
	if live, _ := esindex.AliasIndices(ctx, es, alias); !slices.Equal(live, []string{second}) {
		t.Fatalf("alias on %v after rollback, want [%s]", live, second)
	}
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
