package esindex_test

import (
	"context"
	"encoding/json"
	"errors"
	"iter"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/essync/essync/esindex"
	"github.com/essync/essync/esindex/estest"
)

const searchMapping = `{"mappings":{"properties":{
  "image_vector":{"type":"dense_vector","dims":3,"index":true,"similarity":"dot_product"},
  "shop":{"type":"text","fields":{"keyword":{"type":"keyword"}}},"price":{"type":"double"},"secret":{"type":"keyword"}}}}`

func TestKNNGetMGetAndFieldTypes(t *testing.T) {
	es := estest.Client(t)
	index := estest.IndexName(t, "search")
	ctx := context.Background()
	if err := esindex.CreateIndex(ctx, es, index, []byte(searchMapping)); err != nil {
		t.Fatal(err)
	}
	products := []struct {
		id, shop string
		price    float64
		vec      []float32
	}{
		{"a", "north shop", 10, []float32{1, 0, 0}},
		{"b", "north shop", 20, []float32{0.8, 0.6, 0}},
		{"c", "south", 30, []float32{0, 1, 0}},
		{"d", "south", 40, []float32{0, 0, 1}},
	}
	ops := iter.Seq[esindex.Op](func(yield func(esindex.Op) bool) {
		for _, p := range products {
			b, _ := json.Marshal(map[string]any{"image_vector": p.vec, "shop": p.shop, "price": p.price, "secret": "s"})
			if !yield(esindex.Op{ID: p.id, Body: b}) {
				return
			}
		}
	})
	if _, err := esindex.Bulk(ctx, es, index, ops, esindex.BulkOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := esindex.Refresh(ctx, es, index); err != nil {
		t.Fatal(err)
	}
	lo, hi := 15.0, 35.0
	for _, tc := range []struct {
		name    string
		filters []esindex.Filter
		want    []string
	}{
		{"no filter", nil, []string{"a", "b", "c", "d"}},
		{"term on a keyword sub-field", []esindex.Filter{{Field: "shop.keyword", Values: []string{"south"}}}, []string{"c", "d"}},
		{"any of several values", []esindex.Filter{{Field: "shop.keyword", Values: []string{"south", "north shop"}}}, []string{"a", "b", "c", "d"}},
		{"range", []esindex.Filter{{Field: "price", Min: &lo, Max: &hi}}, []string{"b", "c"}},
		{"term and range", []esindex.Filter{{Field: "shop.keyword", Values: []string{"north shop"}}, {Field: "price", Min: &lo}}, []string{"b"}},
	} {
		hits, err := esindex.KNN(ctx, es, index, esindex.KNNQuery{Vector: []float32{1, 0, 0}, K: 4, Filters: tc.filters, Excludes: []string{"image_vector", "secret"}})
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		var ids []string
		for _, h := range hits {
			ids = append(ids, h.ID)
			if strings.Contains(string(h.Source), "image_vector") || strings.Contains(string(h.Source), "secret") || !strings.Contains(string(h.Source), "price") {
				t.Errorf("%s: %s source %s", tc.name, h.ID, h.Source)
			}
		}
		if !slices.Equal(ids, tc.want) {
			t.Errorf("%s: hits %v, want %v", tc.name, ids, tc.want)
		}
		// This mapping leaves index_options to Elasticsearch (int8_hnsw): scores are quantised.
		if tc.filters == nil && (hits[0].Similarity < 0.99 || math.Abs(hits[1].Similarity-0.8) > 0.01 || hits[0].Score < 0.99) {
			t.Errorf("scores: %+v", hits[:2])
		}
	}

	src, err := esindex.GetDoc(ctx, es, index, "b", []string{"image_vector"})
	if err != nil || !strings.Contains(string(src), `"north shop"`) || strings.Contains(string(src), "image_vector") {
		t.Errorf("GetDoc b: %s %v", src, err)
	}
	if _, err := esindex.GetDoc(ctx, es, index, "zz", nil); !errors.Is(err, esindex.ErrNotFound) {
		t.Errorf("GetDoc of a missing id: %v, want ErrNotFound", err)
	}
	if _, err := esindex.GetDoc(ctx, es, index+"-missing", "a", nil); err == nil || errors.Is(err, esindex.ErrNotFound) {
		t.Errorf("GetDoc on a missing index: %v, want an index error, not ErrNotFound", err)
	}
	got, err := esindex.MGet(ctx, es, index, []string{"d", "zz", "a"}, []string{"image_vector"})
	if err != nil || len(got) != 2 || got["a"] == nil || got["d"] == nil {
		t.Errorf("MGet: %v %v", got, err)
	}
	types, err := esindex.FieldTypes(ctx, es, index)
	if err != nil || types["shop"] != "text" || types["shop.keyword"] != "keyword" || types["price"] != "double" || types["_id"] != "" {
		t.Errorf("FieldTypes: %v %v", types, err)
	}
}
