package pipeline_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/essync/essync/catalog"
	"github.com/essync/essync/esindex"
	"github.com/essync/essync/esindex/estest"
	"github.com/essync/essync/pipeline"
)

func TestFullPublishesExactNeighboursAndGroupMatesFirst(t *testing.T) {
	es := estest.Client(t)
	alias := estest.IndexName(t, "full")
	cfg := e2eConfig(t, alias)
	cfg.NeighborsJSON = filepath.Join(t.TempDir(), "nearest_neighbors.json")
	rep, err := pipeline.Full(context.Background(), cfg)
	if err != nil {
		t.Fatalf("full: %v", err)
	}
	if rep.Products != 48 || rep.Indexed != 48 || len(rep.Skipped) != 0 {
		t.Fatalf("report: products %d indexed %d skipped %v", rep.Products, rep.Indexed, rep.Skipped)
	}
	if rep.Index.Live == "" || !strings.HasPrefix(rep.Index.Live, alias+"-") {
		t.Fatalf("live index %q", rep.Index.Live)
	}
	docs := readAll(t, es, alias)
	if len(docs) != 48 {
		t.Fatalf("alias holds %d documents, want 48", len(docs))
	}
	want := exactTopK(docs, 20)
	for id, doc := range docs {
		if doc.ProductID != id || doc.Title == "" || doc.Price == 0 || doc.Essync.Model != rep.Model || len(doc.Essync.ImageSHA256) != 64 || doc.Essync.SyncedAt == "" {
			t.Errorf("%s: document fields wrong: %+v", id, doc)
		}
		if !sameUpToTies(doc, want[id], docs) {
			t.Errorf("%s: similar_pi %v, exact %v", id, doc.SimilarPI, want[id])
		}
		if len(doc.Similar) != len(doc.SimilarPI) {
			t.Errorf("%s: similar and similar_pi differ in length", id)
		}
		for i, s := range doc.Similar {
			if s.PI != doc.SimilarPI[i] || (i > 0 && s.Similarity > doc.Similar[i-1].Similarity) {
				t.Errorf("%s: similar[%d] = %+v out of order or not matching similar_pi", id, i, s)
			}
			if txt := strconv.FormatFloat(float64(s.Similarity), 'f', -1, 32); len(txt) > len("-0.0000") {
				t.Errorf("%s: similarity %v not truncated to 4 decimals", id, s.Similarity)
			}
		}
		// Near-duplicates of the same photo rank before every other product.
		var mates []string
		for other, d := range docs {
			if other != id && d.Group == doc.Group {
				mates = append(mates, other)
			}
		}
		top := slices.Clone(doc.SimilarPI[:len(mates)])
		slices.Sort(top)
		slices.Sort(mates)
		if !slices.Equal(top, mates) {
			t.Errorf("%s (group %s): first %d similar %v, want its group mates %v", id, doc.Group, len(mates), doc.SimilarPI[:len(mates)], mates)
		}
	}
	// Search by photo: a kNN query with a product's own vector finds it first.
	for _, id := range []string{"cat-orig", "rocket-mirror", "coffee-recolor"} {
		if got := knnFirst(t, es, alias, docs[id].Vector); got != id {
			t.Errorf("knn with %s's vector returned %q first", id, got)
		}
	}
	var rows []struct {
		Similarity float32 `json:"similarity"`
		MasterPI   string  `json:"master_pi"`
		SimilarPI  string  `json:"similar_pi"`
	}
	b, err := os.ReadFile(cfg.NeighborsJSON)
	if err != nil || json.Unmarshal(b, &rows) != nil || len(rows) != 48*20 {
		t.Fatalf("nearest_neighbors.json: %d rows, err %v", len(rows), err)
	}
	if rows[0].MasterPI == "" || rows[0].SimilarPI != docs[rows[0].MasterPI].SimilarPI[0] {
		t.Errorf("first row %+v does not match the index", rows[0])
	}
}

func knnFirst(t *testing.T, es *elasticsearch.Client, alias string, vector []float32) string {
	t.Helper()
	body, _ := json.Marshal(map[string]any{
		"knn":     map[string]any{"field": "image_vector", "query_vector": vector, "k": 5, "num_candidates": 50},
		"_source": false,
	})
	res, err := es.Search(es.Search.WithIndex(alias), es.Search.WithBody(bytes.NewReader(body)))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out struct {
		Hits struct {
			Hits []struct {
				ID string `json:"_id"`
			} `json:"hits"`
		} `json:"hits"`
	}
	if res.IsError() || json.NewDecoder(res.Body).Decode(&out) != nil || len(out.Hits.Hits) == 0 {
		t.Fatalf("knn search failed: %s", res.Status())
	}
	return out.Hits.Hits[0].ID
}

func TestFullSwapNeverShowsReadersAnErrorOrAnEmptyIndex(t *testing.T) {
	es := estest.Client(t)
	alias := estest.IndexName(t, "swap")
	cfg := e2eConfig(t, alias)
	if _, err := pipeline.Full(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	var queries, failures atomic.Int64
	var firstFailure atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 100000; i++ { // bounded; stops when the runs are done
				select {
				case <-stop:
					return
				default:
				}
				n, err := esindex.Count(context.Background(), es, alias)
				queries.Add(1)
				if err != nil || n != 48 {
					failures.Add(1)
					firstFailure.CompareAndSwap(nil, fmt.Sprintf("count %d err %v", n, err))
				}
			}
		}()
	}
	for range 2 {
		if _, err := pipeline.Full(context.Background(), cfg); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	if queries.Load() < 10 {
		t.Fatalf("only %d reader queries ran during the swaps", queries.Load())
	}
	if failures.Load() > 0 {
		t.Fatalf("%d of %d reader queries saw an error or a wrong count, first: %v", failures.Load(), queries.Load(), firstFailure.Load())
	}
	indices, err := esindex.ListIndices(context.Background(), es, alias)
	if err != nil || len(indices) != 2 || !indices[1].Live {
		t.Fatalf("want the live index plus one kept for rollback, got %+v (err %v)", indices, err)
	}
}

func TestFullReportsEveryBadRowAndPublishesTheRest(t *testing.T) {
	es := estest.Client(t)
	alias := estest.IndexName(t, "bad")
	var expected struct {
		Kept         []string `json:"kept"`
		CatalogSkips []struct {
			Row  int    `json:"row"`
			ID   string `json:"id"`
			Kind string `json:"kind"`
		} `json:"catalog_skips"`
		ImageSkips []struct {
			ID string `json:"id"`
		} `json:"image_skips"`
	}
	b, err := os.ReadFile(filepath.Join(e2eDir, "bad", "expected.json"))
	if err != nil || json.Unmarshal(b, &expected) != nil {
		t.Fatalf("expected.json: %v", err)
	}
	cfg := e2eConfig(t, alias)
	cfg.CatalogPath = filepath.Join(e2eDir, "bad", "catalog.jl")
	cfg.Catalog = catalog.Options{ImagesDir: filepath.Join(e2eDir, "bad", "images")}
	cfg.MaxSkipped = 100
	rep, err := pipeline.Full(context.Background(), cfg)
	if err != nil {
		t.Fatalf("full: %v", err)
	}
	docs := readAll(t, es, alias)
	got := slices.Sorted(func(y func(string) bool) {
		for id := range docs {
			if !y(id) {
				return
			}
		}
	})
	want := slices.Sorted(slices.Values(expected.Kept))
	if !slices.Equal(got, want) {
		t.Errorf("published %v, want %v", got, want)
	}
	bySkip := map[string]pipeline.Skipped{}
	for _, s := range rep.Skipped {
		if s.Reason == "" {
			t.Errorf("skip without a reason: %+v", s)
		}
		bySkip[fmt.Sprintf("%d/%s", s.Row, s.Kind)] = s
	}
	for _, w := range expected.CatalogSkips {
		if _, ok := bySkip[fmt.Sprintf("%d/%s", w.Row, w.Kind)]; !ok {
			t.Errorf("report lacks catalog skip row %d (%s, id %q)", w.Row, w.Kind, w.ID)
		}
	}
	for _, w := range expected.ImageSkips {
		if !slices.ContainsFunc(rep.Skipped, func(s pipeline.Skipped) bool { return s.Stage == "embed" && s.ID == w.ID }) {
			t.Errorf("report lacks image skip %q", w.ID)
		}
	}
	if total := len(rep.Skipped) + rep.Indexed; total != rep.CatalogRows {
		t.Errorf("skipped %d + indexed %d != catalog rows %d: something was dropped silently", len(rep.Skipped), rep.Indexed, rep.CatalogRows)
	}
	cfg.MaxSkipped = 3
	if _, err := pipeline.Full(context.Background(), cfg); !errors.Is(err, pipeline.ErrTooManySkipped) {
		t.Errorf("with --max-skipped 3: err %v, want ErrTooManySkipped", err)
	}
}

func TestFullThroughAFlakyClusterLosesNothing(t *testing.T) {
	es := estest.Client(t)
	alias := estest.IndexName(t, "flaky")
	proxy := estest.NewFaultProxy(t, estest.URL(), []estest.Fault{
		estest.Reject429, estest.DropBefore, estest.ItemRejections, estest.DropAfter, estest.None,
		estest.ItemRejections, estest.DropAfter, estest.Reject429, estest.DropBefore, estest.ItemRejections,
	})
	cfg := e2eConfig(t, alias)
	cfg.ES = &esindex.Config{URLs: []string{proxy.URL}, MaxRetries: 1}
	cfg.Bulk = esindex.BulkOptions{FlushBytes: 48 << 10, RetryBase: 5 * time.Millisecond}
	rep, err := pipeline.Full(context.Background(), cfg)
	if err != nil {
		t.Fatalf("full through faults: %v", err)
	}
	for _, f := range []estest.Fault{estest.Reject429, estest.DropBefore, estest.DropAfter, estest.ItemRejections} {
		if proxy.Count(f) == 0 {
			t.Errorf("fault %d never injected", f)
		}
	}
	if rep.Index.Bulk.Retried == 0 {
		t.Errorf("no item was retried: the faults did not bite (%+v)", rep.Index.Bulk)
	}
	docs := readAll(t, es, alias)
	if len(docs) != 48 || rep.Indexed != 48 {
		t.Fatalf("alias holds %d documents (report %d), want every one of 48 exactly once", len(docs), rep.Indexed)
	}
}

// Without Elasticsearch a full run writes bulk-ready NDJSON for both
// indices: the product documents (no lists) and one list document each.
func TestFullWithoutElasticsearchWritesBulkReadyFile(t *testing.T) {
	cfg := e2eConfig(t, "unused")
	cfg.ES = nil
	rep, err := pipeline.Full(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, file := range []struct {
		path       string
		has, hasNo string
	}{{rep.Index.OutFile, "image_vector", "similar_pi"}, {rep.Index.SimilarOutFile, "similar_pi", "image_vector"}} {
		f, err := os.Open(file.path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 1<<24)
		lines := 0
		for sc.Scan() {
			var v map[string]json.RawMessage
			if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
				t.Fatalf("%s line %d is not JSON: %v", file.path, lines+1, err)
			}
			if lines%2 == 0 {
				if _, ok := v["index"]; !ok {
					t.Fatalf("%s line %d is not a bulk action: %s", file.path, lines+1, sc.Bytes())
				}
			} else if _, ok := v[file.has]; !ok {
				t.Fatalf("%s line %d has no %s", file.path, lines+1, file.has)
			} else if _, ok := v[file.hasNo]; ok {
				t.Fatalf("%s line %d has %s", file.path, lines+1, file.hasNo)
			}
			lines++
		}
		if lines != 96 {
			t.Fatalf("%s: %d lines, want 48 action+document pairs", file.path, lines)
		}
	}
}

// An alias ending in "-similar" would take another alias's similar indices
// for its own: full and incremental refuse it before any work, as a usage
// error naming the alias it collides with.
func TestAliasEndingInSimilarIsRefused(t *testing.T) {
	cfg := e2eConfig(t, "shop-similar")
	for name, run := range map[string]func(context.Context, pipeline.Config) (*pipeline.Report, error){"full": pipeline.Full, "incremental": pipeline.Incremental} {
		rep, err := run(context.Background(), cfg)
		if !errors.Is(err, pipeline.ErrUsage) || !strings.Contains(err.Error(), `alias "shop"`) || rep.Embedded+rep.FromCache != 0 {
			t.Errorf("%s: err %v, embedded %d; want a usage error naming alias shop, before any work", name, err, rep.Embedded+rep.FromCache)
		}
	}
}
