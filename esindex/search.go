package esindex

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/elastic/go-elasticsearch/v8"
)

// VectorField is the dense_vector field kNN queries search.
const VectorField = "image_vector"

// ErrNotFound is returned (wrapped) by GetDoc for an id the index does not hold.
var ErrNotFound = errors.New("document not found")

// Hit is one product found by a query, best first.
type Hit struct {
	ID    string  `json:"product_id"`
	Score float64 `json:"score"` // Elasticsearch's kNN _score
	// Similarity is the cosine similarity of the query and the product's
	// vector, 2·Score−1 for essync's unit vectors (dot_product or cosine
	// similarity both score (1+cos)/2), comparable with stored similar lists.
	Similarity float64         `json:"similarity"`
	Source     json.RawMessage `json:"source"`
}

// Filter restricts a kNN query on one field: Values is an exact match on any
// of them (strings or numbers as text), Min/Max an inclusive range (nil = open).
// Field is the field to query as Elasticsearch knows it (e.g. "shop.keyword").
type Filter struct {
	Field    string
	Values   []string
	Min, Max *float64
}

// KNNQuery is a search by vector.
type KNNQuery struct {
	Vector        []float32
	K             int
	NumCandidates int      // default max(10·K, 100), at most 10 000
	Filters       []Filter // all must hold (kNN pre-filtering)
	Excludes      []string // _source fields left out of the hits
}

// KNN runs an approximate kNN search on target's VectorField and returns up
// to K hits, best first, with their _source (less Excludes).
func KNN(ctx context.Context, es *elasticsearch.Client, target string, q KNNQuery) ([]Hit, error) {
	nc := q.NumCandidates
	if nc <= 0 {
		nc = min(max(10*q.K, 100), 10000)
	}
	buf := knnBodies.Get().(*[]byte)
	body, err := appendKNNBody((*buf)[:0], q, max(nc, q.K))
	if err != nil {
		return nil, fmt.Errorf("knn on %s: %w", target, err)
	}
	*buf = body
	res, err := es.Search(es.Search.WithContext(ctx), es.Search.WithIndex(target), es.Search.WithBody(bytes.NewReader(body)))
	if err != nil {
		return nil, fmt.Errorf("knn on %s: %w", target, err)
	}
	var out struct {
		Hits struct {
			Hits []struct {
				ID     string          `json:"_id"`
				Score  float64         `json:"_score"`
				Source json.RawMessage `json:"_source"`
			} `json:"hits"`
		} `json:"hits"`
	}
	if err := decode(res, &out); err != nil {
		return nil, fmt.Errorf("knn on %s: %w", target, err)
	}
	// Elasticsearch read the whole body before it answered, so nothing holds
	// the buffer now. (After an error it is dropped: an early error answer
	// may arrive while the body is still being sent.)
	knnBodies.Put(buf)
	hits := make([]Hit, len(out.Hits.Hits))
	for i, h := range out.Hits.Hits {
		hits[i] = Hit{ID: h.ID, Score: h.Score, Similarity: math.Round((2*h.Score-1)*1e4) / 1e4, Source: h.Source}
	}
	return hits, nil
}

// filterClauses turns filters into a bool query's filter clauses.
func filterClauses(filters []Filter) []any {
	var clauses []any
	for _, f := range filters {
		switch len(f.Values) {
		case 0:
		case 1:
			clauses = append(clauses, map[string]any{"term": map[string]any{f.Field: f.Values[0]}})
		default:
			clauses = append(clauses, map[string]any{"terms": map[string]any{f.Field: f.Values}})
		}
		if f.Min != nil || f.Max != nil {
			r := map[string]any{}
			if f.Min != nil {
				r["gte"] = *f.Min
			}
			if f.Max != nil {
				r["lte"] = *f.Max
			}
			clauses = append(clauses, map[string]any{"range": map[string]any{f.Field: r}})
		}
	}
	return clauses
}

// GetDoc reads one document's _source (less excludes) through target, or an
// error wrapping ErrNotFound.
func GetDoc(ctx context.Context, es *elasticsearch.Client, target, id string, excludes []string) (json.RawMessage, error) {
	res, err := es.Get(target, id, es.Get.WithContext(ctx), es.Get.WithSourceExcludes(excludes...))
	if err != nil {
		return nil, fmt.Errorf("get %s/%s: %w", target, id, err)
	}
	var out struct {
		Found  bool            `json:"found"`
		Source json.RawMessage `json:"_source"`
	}
	if err := decode(res, &out); err != nil {
		if isStatus(err, 404) {
			var re *ResponseError
			if errors.As(err, &re) && re.Type == "" { // a missing document, not a missing index
				return nil, fmt.Errorf("get %s/%s: %w", target, id, ErrNotFound)
			}
		}
		return nil, fmt.Errorf("get %s/%s: %w", target, id, err)
	}
	if !out.Found {
		return nil, fmt.Errorf("get %s/%s: %w", target, id, ErrNotFound)
	}
	return out.Source, nil
}

// MGet reads many documents' _source (less excludes) in one request. The
// result maps id to source; ids the index does not hold are absent.
func MGet(ctx context.Context, es *elasticsearch.Client, target string, ids []string, excludes []string) (map[string]json.RawMessage, error) {
	out := make(map[string]json.RawMessage, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	body, err := json.Marshal(map[string]any{"ids": ids})
	if err != nil {
		return nil, fmt.Errorf("mget on %s: %w", target, err)
	}
	res, err := es.Mget(bytes.NewReader(body), es.Mget.WithContext(ctx), es.Mget.WithIndex(target), es.Mget.WithSourceExcludes(excludes...))
	if err != nil {
		return nil, fmt.Errorf("mget on %s: %w", target, err)
	}
	var got struct {
		Docs []struct {
			ID     string          `json:"_id"`
			Found  bool            `json:"found"`
			Source json.RawMessage `json:"_source"`
		} `json:"docs"`
	}
	if err := decode(res, &got); err != nil {
		return nil, fmt.Errorf("mget on %s: %w", target, err)
	}
	for _, d := range got.Docs {
		if d.Found {
			out[d.ID] = d.Source
		}
	}
	return out, nil
}

// FieldTypes returns the type of every field of target as Elasticsearch
// maps it (e.g. "price" → "double", "shop" → "text", "shop.keyword" →
// "keyword"), from one _field_caps call. A field mapped differently in
// several indices gets its types joined by "|".
func FieldTypes(ctx context.Context, es *elasticsearch.Client, target string) (map[string]string, error) {
	res, err := es.FieldCaps(es.FieldCaps.WithContext(ctx), es.FieldCaps.WithIndex(target), es.FieldCaps.WithFields("*"))
	if err != nil {
		return nil, fmt.Errorf("field types of %s: %w", target, err)
	}
	var caps struct {
		Fields map[string]map[string]json.RawMessage `json:"fields"`
	}
	if err := decode(res, &caps); err != nil {
		return nil, fmt.Errorf("field types of %s: %w", target, err)
	}
	out := make(map[string]string, len(caps.Fields))
	for name, types := range caps.Fields {
		if strings.HasPrefix(name, "_") {
			continue // metadata fields
		}
		var ts []string
		for t := range types {
			ts = append(ts, t)
		}
		slices.Sort(ts)
		out[name] = strings.Join(ts, "|")
	}
	return out, nil
}
