package esindex_test

import (
	"context"
	"fmt"
	"iter"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/essync/essync/esindex"
	"github.com/essync/essync/esindex/estest"
	"github.com/essync/essync/mappings"
	"github.com/essync/essync/neighbors"
)

// knnFixture loads n clustered unit vectors of dims into a fresh index with
// essync's mapping and returns the ids and row-major vectors.
func knnFixture(t *testing.T, n, dims int) (string, []string, []float32) {
	t.Helper()
	es := estest.Client(t)
	ctx := context.Background()
	index := estest.IndexName(t, "knn")
	body, err := mappings.Render(mappings.Options{Dims: dims, Model: "test@knn"})
	if err != nil {
		t.Fatal(err)
	}
	if err := esindex.CreateIndex(ctx, es, index, body); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(3, 4))
	centres := make([]float64, 12*dims)
	for i := range centres {
		centres[i] = r.NormFloat64()
	}
	ids := make([]string, n)
	vecs := make([]float32, n*dims)
	for i := range n {
		ids[i] = fmt.Sprintf("p-%04d", i)
		c := r.IntN(12)
		var norm float64
		row := make([]float64, dims)
		for d := range row {
			row[d] = centres[c*dims+d] + 0.5*r.NormFloat64()
			norm += row[d] * row[d]
		}
		for d := range row {
			vecs[i*dims+d] = float32(row[d] / math.Sqrt(norm))
		}
	}
	res, err := esindex.Bulk(ctx, es, index, func(yield func(esindex.Op) bool) {
		for i, id := range ids {
			var b strings.Builder
			fmt.Fprintf(&b, `{"product_id":%q,"image_vector":[`, id)
			for d, x := range vecs[i*dims : (i+1)*dims] {
				if d > 0 {
					b.WriteByte(',')
				}
				fmt.Fprintf(&b, "%g", x)
			}
			b.WriteString("]}")
			if !yield(esindex.Op{ID: id, Body: []byte(b.String())}) {
				return
			}
		}
	}, esindex.BulkOptions{})
	if err != nil || res.Succeeded != n {
		t.Fatalf("load: %v %+v", err, res)
	}
	if err := esindex.FinishLoad(ctx, es, index, 0, n); err != nil {
		t.Fatal(err)
	}
	return index, ids, vecs
}

func knnQueries(ids []string, vecs []float32, dims int) iter.Seq[esindex.ProductVector] {
	return func(yield func(esindex.ProductVector) bool) {
		for i, id := range ids {
			if !yield(esindex.ProductVector{ID: id, Vector: vecs[i*dims : (i+1)*dims]}) {
				return
			}
		}
	}
}

// Elasticsearch's kNN gives every product K neighbours without itself,
// nearly the exact ones, with the exact cosines (to 4 decimals); through a
// proxy that rejects and drops _msearch requests every product still gets
// exactly one list; and the lists land in the similar index as list documents.
func TestNeighborsByKNN(t *testing.T) {
	const n, dims, k = 400, 32, 8
	index, ids, vecs := knnFixture(t, n, dims)
	exact, err := neighbors.Build(ids, vecs, dims, neighbors.Options{K: k, Exact: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	proxy := estest.NewFaultProxy(t, estest.URL(), []estest.Fault{estest.Reject429, estest.Reject429, estest.DropBefore, estest.None, estest.Reject429, estest.Reject429})
	proxy.Paths = []string{"/_msearch"}
	client, err := esindex.NewClient(esindex.Config{URLs: []string{proxy.URL}, MaxRetries: 1})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	got := map[string][]neighbors.Neighbor{}
	res, err := esindex.NeighborsByKNN(ctx, client, index, knnQueries(ids, vecs, dims),
		esindex.KNNOptions{K: k, Batch: 16, Workers: 2, GiveUpAfter: time.Minute},
		func(id string, list []neighbors.Neighbor) error {
			mu.Lock()
			defer mu.Unlock()
			if _, dup := got[id]; dup {
				t.Errorf("product %s got two lists", id)
			}
			got[id] = list
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	if res.Products != n || len(got) != n || res.Retried == 0 || res.NumCandidates != max(100, 4*(k+1)) {
		t.Fatalf("result %+v, %d lists; want %d products and retries after the injected faults", res, len(got), n)
	}
	hits := 0
	for _, id := range ids {
		want := map[string]float32{}
		for _, nb := range exact.Neighbors(id) {
			want[nb.ID] = nb.Similarity
		}
		if len(got[id]) != k {
			t.Fatalf("%s: %d neighbours, want %d", id, len(got[id]), k)
		}
		for _, nb := range got[id] {
			if nb.ID == id {
				t.Fatalf("%s lists itself", id)
			}
			if s, ok := want[nb.ID]; ok {
				hits++
				if math.Abs(float64(s-nb.Similarity)) > 2e-4 {
					t.Errorf("%s→%s: similarity %v, exact %v", id, nb.ID, nb.Similarity, s)
				}
			}
		}
	}
	if recall := float64(hits) / float64(n*k); recall < 0.95 {
		t.Errorf("recall@%d %.3f against the exact lists, want ≥ 0.95", k, recall)
	}

	// Write the lists as list documents into a similar index, through a
	// Bulk whose own index is the product index (Op.Index routes them), and
	// read one back; the product documents stay as they were.
	es := estest.Client(t)
	lists := estest.IndexName(t, "knn-similar")
	body, err := mappings.RenderSimilar(mappings.Options{Dims: dims, Model: "m", K: k}, index)
	if err != nil {
		t.Fatal(err)
	}
	if err := esindex.CreateIndex(ctx, es, lists, body); err != nil {
		t.Fatal(err)
	}
	up, err := esindex.Bulk(ctx, es, index, func(yield func(esindex.Op) bool) {
		for _, id := range ids {
			op := esindex.SimilarDocument(id, got[id], "g-"+id, 1)
			op.Index = lists
			if !yield(op) {
				return
			}
		}
	}, esindex.BulkOptions{})
	if err != nil || up.Succeeded != n {
		t.Fatalf("list documents: %v %+v", err, up)
	}
	if err := esindex.FinishLoad(ctx, es, lists, 0, n); err != nil {
		t.Fatal(err)
	}
	src, err := esindex.GetDoc(ctx, es, lists, ids[7], nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf(`{"product_id":%q,"similar_pi":[%q`, ids[7], got[ids[7]][0].ID); !strings.HasPrefix(string(src), want) {
		t.Errorf("list document %s: %.300s, want it to start %s", ids[7], src, want)
	}
	if want := fmt.Sprintf(`,"group_id":"g-%s","group_size":1}`, ids[7]); !strings.HasSuffix(string(src), want) {
		t.Errorf("list document %s: %.300s, want it to end with its group %s", ids[7], src, want)
	}
	if n, err := esindex.Count(ctx, es, index); err != nil || n != len(ids) {
		t.Errorf("product index holds %d documents (%v), want %d: the list documents went elsewhere", n, err, len(ids))
	}
	var seen int
	err = esindex.Scan(ctx, es, index, nil, 100, func(d esindex.StoredDoc) error {
		seen++
		if strings.Contains(string(d.Source), "similar") {
			t.Errorf("product document %s carries a list: %.300s", d.ID, d.Source)
		}
		return nil
	})
	if err != nil || seen != n {
		t.Fatalf("scan: %v, %d documents", err, seen)
	}
}

func TestCosineFromScore(t *testing.T) {
	for _, c := range []struct {
		score float64
		want  float32
	}{{1, 1}, {0.5, 0}, {0.975, 0.95}, {0.99999, 0.9999}, {0.25, -0.5}} {
		if got := esindex.CosineFromScore(c.score); got != c.want {
			t.Errorf("CosineFromScore(%v) = %v, want %v", c.score, got, c.want)
		}
	}
}

// The list document carries the list and (schema 4) the offer group; with
// no group id it carries neither group field, never half of the pair.
func TestSimilarBody(t *testing.T) {
	list := []neighbors.Neighbor{{ID: "b", Similarity: 0.9312}, {ID: "c", Similarity: 0.5}}
	for _, tc := range []struct {
		name, group string
		size        int
		want        string
	}{
		{"group of three", "g-a", 3, `{"product_id":"a","similar_pi":["b","c"],"similar":[{"pi":"b","similarity":0.9312},{"pi":"c","similarity":0.5}],"group_id":"g-a","group_size":3}`},
		{"alone", "g-a", 1, `{"product_id":"a","similar_pi":["b","c"],"similar":[{"pi":"b","similarity":0.9312},{"pi":"c","similarity":0.5}],"group_id":"g-a","group_size":1}`},
		{"no group", "", 0, `{"product_id":"a","similar_pi":["b","c"],"similar":[{"pi":"b","similarity":0.9312},{"pi":"c","similarity":0.5}]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(esindex.SimilarBody("a", list, tc.group, tc.size)); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
			if op := esindex.SimilarDocument("a", list, tc.group, tc.size); op.Action != "index" || op.ID != "a" || string(op.Body) != tc.want {
				t.Errorf("SimilarDocument = %+v", op)
			}
		})
	}
}
