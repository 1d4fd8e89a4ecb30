package esindex

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// knnBodyByMap is the body as KNN built it before appendKNNBody: a map
// through encoding/json. The tests hold the new body to it; the benchmark
// measures against it.
func knnBodyByMap(q KNNQuery, nc int) ([]byte, error) {
	knn := map[string]any{"field": VectorField, "query_vector": q.Vector, "k": q.K, "num_candidates": nc}
	if len(q.Filters) > 0 {
		knn["filter"] = filterClauses(q.Filters)
	}
	req := map[string]any{"knn": knn, "size": q.K, "track_total_hits": false}
	if len(q.Excludes) > 0 {
		req["_source"] = map[string]any{"excludes": q.Excludes}
	}
	return json.Marshal(req)
}

func randomUnitVector(dims int, seed uint64) []float32 {
	rng := rand.New(rand.NewPCG(seed, 7))
	v := make([]float32, dims)
	var norm float64
	for i := range v {
		v[i] = float32(rng.NormFloat64())
		norm += float64(v[i]) * float64(v[i])
	}
	for i := range v {
		v[i] /= float32(math.Sqrt(norm))
	}
	return v
}

func TestAppendKNNBodyMatchesEncodingJSON(t *testing.T) {
	lo, hi := 2.0, 30.0
	cases := []struct {
		name string
		q    KNNQuery
	}{
		{"unit vector, excludes", KNNQuery{Vector: randomUnitVector(1280, 1), K: 10, Excludes: []string{"image_vector", "essync"}}},
		{"extreme magnitudes", KNNQuery{Vector: []float32{0, -0.0, 1e-7, -3.4e38, 1e21, 123456789, 1.5e-45, 0.1, -1}, K: 1}},
		{"filters", KNNQuery{Vector: []float32{0.6, 0.8}, K: 3, Filters: []Filter{
			{Field: "shop.keyword", Values: []string{"a", `quo"te`}}, {Field: "price", Min: &lo, Max: &hi}, {Field: "brand.keyword", Values: []string{"x"}},
		}}},
		{"empty vector", KNNQuery{Vector: []float32{}, K: 5}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := appendKNNBody(nil, tc.q, 100)
			if err != nil {
				t.Fatal(err)
			}
			want, err := knnBodyByMap(tc.q, 100)
			if err != nil {
				t.Fatal(err)
			}
			// The same request, and the same float32 values (written with
			// other digits than encoding/json's shortest ones).
			g, gv := splitVector(t, got)
			w, wv := splitVector(t, want)
			if !reflect.DeepEqual(g, w) {
				t.Errorf("body differs from encoding/json's besides the vector:\n got %v\nwant %v", g, w)
			}
			if !slices.Equal(gv, wv) || !slices.Equal(gv, tc.q.Vector) {
				t.Errorf("query vector reads back as %v, want %v", gv, tc.q.Vector)
			}
		})
	}
}

// splitVector decodes a kNN body into its query vector, read as float32s,
// and the rest of the request.
func splitVector(t *testing.T, body []byte) (map[string]any, []float32) {
	t.Helper()
	var rest map[string]any
	var vec struct {
		KNN struct {
			V []float32 `json:"query_vector"`
		} `json:"knn"`
	}
	if err := json.Unmarshal(body, &rest); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	if err := json.Unmarshal(body, &vec); err != nil {
		t.Fatal(err)
	}
	delete(rest["knn"].(map[string]any), "query_vector")
	return rest, vec.KNN.V
}

func TestAppendKNNBodyRefusesNaN(t *testing.T) {
	for _, v := range []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))} {
		_, err := appendKNNBody(nil, KNNQuery{Vector: []float32{0.5, v}, K: 1}, 100)
		if err == nil || !strings.Contains(err.Error(), "value 1") {
			t.Errorf("vector with %v: error %v, want one naming value 1", v, err)
		}
	}
}

// BenchmarkKNNBody compares the kNN request body of a 1280-d query written by
// appendKNNBody into a pooled buffer with encoding/json of a map, the way it
// was built before:
//
//	go test -run '^$' -bench KNNBody -count 5 ./esindex/
func BenchmarkKNNBody(b *testing.B) {
	q := KNNQuery{Vector: randomUnitVector(1280, 3), K: 10, Excludes: []string{"image_vector", "essync", "similar", "similar_pi"}}
	b.Run("encoding-json-map", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			if _, err := knnBodyByMap(q, 100); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("append-pooled", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			buf := knnBodies.Get().(*[]byte)
			body, err := appendKNNBody((*buf)[:0], q, 100)
			if err != nil {
				b.Fatal(err)
			}
			*buf = body
			knnBodies.Put(buf)
		}
	})
}

// TestAppendFloat32ReadsBack checks that every float32 written reads back as
// itself, both parsed straight as a float32 and through a float64 first (as
// Elasticsearch's JSON parser may): every float32 from 1/64 to 1/32 (2²³
// values, where a unit vector's components live), random bit patterns over
// the whole range, and the edges.
func TestAppendFloat32ReadsBack(t *testing.T) {
	check := func(v float32) {
		s := string(appendFloat32(nil, v))
		got, err := strconv.ParseFloat(s, 32)
		if err != nil || float32(got) != v {
			t.Fatalf("%v (bits %#x) written as %q reads back as %v (%v)", v, math.Float32bits(v), s, float32(got), err)
		}
		d, _ := strconv.ParseFloat(s, 64)
		if float32(d) != v {
			t.Fatalf("%v written as %q reads back through float64 as %v", v, s, float32(d))
		}
	}
	for _, v := range []float32{1, -1, 0.1, 1e-7, 1e-6, 123456789, 999999999, 0.99999999, math.MaxFloat32, -math.MaxFloat32,
		math.SmallestNonzeroFloat32, 1.1754944e-38, 1e38, 3.0000001, 9.999999e-5} {
		check(v)
	}
	for bits := math.Float32bits(1.0 / 64); bits < math.Float32bits(1.0/32); bits++ {
		check(math.Float32frombits(bits))
	}
	rng := rand.New(rand.NewPCG(5, 6))
	for range 2_000_000 {
		v := math.Float32frombits(rng.Uint32())
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			continue
		}
		check(v)
	}
}
