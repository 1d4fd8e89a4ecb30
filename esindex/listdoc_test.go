package esindex_test

import (
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"slices"
	"strconv"
	"testing"

	"github.com/essync/essync/esindex"
	"github.com/essync/essync/neighbors"
)

// DecodeList reads back what SimilarBody writes, and reads what it cannot
// of a damaged document as far as it can, naming each bad field.
func TestDecodeList(t *testing.T) {
	list := []neighbors.Neighbor{{ID: "b", Similarity: 0.9312}, {ID: "c", Similarity: 0.5}}
	scored := []esindex.ListEntry{{PI: "b", Similarity: 0.9312, Scored: true}, {PI: "c", Similarity: 0.5, Scored: true}}
	for _, tc := range []struct {
		name   string
		source string
		want   esindex.ListDocument // compared without the entries' float32s (see Neighbors below)
		bad    []string             // the fields BadListFields names
	}{
		{"SimilarBody with a group", string(esindex.SimilarBody("a", list, "g-a", 3)),
			esindex.ListDocument{ProductID: "a", SimilarPI: []string{"b", "c"}, Similar: scored, GroupID: "g-a", GroupSize: 3}, nil},
		{"SimilarBody without a group (schema 3)", string(esindex.SimilarBody("a", list, "", 0)),
			esindex.ListDocument{ProductID: "a", SimilarPI: []string{"b", "c"}, Similar: scored}, nil},
		{"empty list", string(esindex.SimilarBody("a", nil, "g", 1)),
			esindex.ListDocument{ProductID: "a", SimilarPI: []string{}, Similar: []esindex.ListEntry{}, GroupID: "g", GroupSize: 1}, nil},
		{"nulls count as absent", `{"product_id":null,"similar_pi":null,"similar":[{"pi":"b","similarity":null}],"group_id":null,"group_size":null}`,
			esindex.ListDocument{Similar: []esindex.ListEntry{{PI: "b"}}}, nil},
		{"an entry without a score", `{"similar":[{"pi":"b"}]}`,
			esindex.ListDocument{Similar: []esindex.ListEntry{{PI: "b"}}}, nil},
		{"a score as Elasticsearch re-renders it", `{"similar":[{"pi":"b","similarity":5.054619E-4}]}`,
			esindex.ListDocument{Similar: []esindex.ListEntry{{PI: "b", Similarity: 5.054619e-4, Scored: true}}}, nil},
		{"group_size re-rendered as 3.0", `{"group_id":"g","group_size":3.0}`,
			esindex.ListDocument{GroupID: "g", GroupSize: 3}, nil},
		{"group_size a fraction", `{"group_id":"g","group_size":1.5}`,
			esindex.ListDocument{GroupID: "g"}, []string{"group_size"}},
		{"group_size a string", `{"group_id":"g","group_size":"3"}`,
			esindex.ListDocument{GroupID: "g"}, []string{"group_size"}},
		{"group_id a number", `{"group_id":7,"group_size":3}`,
			esindex.ListDocument{GroupSize: 3}, []string{"group_id"}},
		{"product_id a number", `{"product_id":7,"similar_pi":["b"]}`,
			esindex.ListDocument{SimilarPI: []string{"b"}}, []string{"product_id"}},
		{"similar_pi not strings, the rest still read", `{"product_id":"a","similar_pi":[1],"similar":[{"pi":"b","similarity":0.5}]}`,
			esindex.ListDocument{ProductID: "a", Similar: []esindex.ListEntry{{PI: "b", Similarity: 0.5, Scored: true}}}, []string{"similar_pi"}},
		{"a score as a string", `{"similar_pi":["b"],"similar":[{"pi":"b","similarity":"0.5"}]}`,
			esindex.ListDocument{SimilarPI: []string{"b"}}, []string{"similar"}},
		{"a pi as a number", `{"similar":[{"pi":1,"similarity":0.5}]}`,
			esindex.ListDocument{}, []string{"similar"}},
		{"similar an object", `{"similar":{"pi":"b"}}`,
			esindex.ListDocument{}, []string{"similar"}},
		{"every field bad", `{"product_id":[],"similar_pi":"b","similar":1,"group_id":{},"group_size":true}`,
			esindex.ListDocument{}, []string{"product_id", "similar_pi", "similar", "group_id", "group_size"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := esindex.DecodeList([]byte(tc.source))
			var bad esindex.BadListFields
			if errors.As(err, &bad) != (len(tc.bad) > 0) || (err != nil && len(tc.bad) == 0) {
				t.Fatalf("error %v, want bad fields %v", err, tc.bad)
			}
			var names []string
			for _, e := range bad {
				names = append(names, e.Field)
				if f, ok := bad.Field(e.Field); !ok || f != e {
					t.Errorf("Field(%q) = %v, %v", e.Field, f, ok)
				}
			}
			if !slices.Equal(names, tc.bad) {
				t.Errorf("bad fields %v, want %v (%v)", names, tc.bad, err)
			}
			if _, ok := bad.Field("none"); ok {
				t.Error("Field names a field that is fine")
			}
			if !reflect.DeepEqual(withoutFloat32(got), tc.want) {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

// withoutFloat32 drops the entries' unexported float32s for comparison.
func withoutFloat32(d esindex.ListDocument) esindex.ListDocument {
	if d.Similar != nil {
		d.Similar = slices.Clone(d.Similar)
		for i, e := range d.Similar {
			d.Similar[i] = esindex.ListEntry{PI: e.PI, Similarity: e.Similarity, Scored: e.Scored}
		}
	}
	return d
}

// Neighbors gives back the float32s SimilarBody wrote, bit for bit, and
// parses a score straight to float32: through a float64 this one would
// land on the midpoint between 1 and the next float32 and round to 1.
func TestDecodeListNeighbors(t *testing.T) {
	list := []neighbors.Neighbor{{ID: "b", Similarity: 0.9312}, {ID: "c", Similarity: 0.0005}, {ID: "d", Similarity: -0.1234}, {ID: "e", Similarity: math.Nextafter32(0.25, 1)}}
	d, err := esindex.DecodeList(esindex.SimilarBody("a", list, "g", 2))
	if err != nil || !slices.Equal(d.Neighbors(), list) {
		t.Errorf("Neighbors() = %v, %v; want %v", d.Neighbors(), err, list)
	}
	d, err = esindex.DecodeList([]byte(`{"similar":[{"pi":"b","similarity":1.0000000596046447762}]}`))
	if want := math.Nextafter32(1, 2); err != nil || d.Neighbors()[0].Similarity != want {
		t.Errorf("similarity %v (%v), want %v", d.Neighbors()[0].Similarity, err, want)
	}
}

// A source that is not a JSON object is an error of its own, not a list
// of bad fields.
func TestDecodeListNotAnObject(t *testing.T) {
	for _, src := range []string{`[1]`, `"a"`, `{`, ``} {
		_, err := esindex.DecodeList([]byte(src))
		var bad esindex.BadListFields
		if err == nil || errors.As(err, &bad) {
			t.Errorf("DecodeList(%q) = %v, want a not-an-object error", src, err)
		}
	}
}

// ListFields embedded in a bigger struct fills from one Unmarshal, as
// verify reads a product document of schema 3 with its list.
func TestListFieldsEmbedded(t *testing.T) {
	var s struct {
		esindex.ListFields
		Title string `json:"title"`
	}
	if err := json.Unmarshal([]byte(`{"title":"t","product_id":"a","similar_pi":["b"],"group_id":"g","group_size":2}`), &s); err != nil {
		t.Fatal(err)
	}
	d, err := s.Decode()
	if err != nil || s.Title != "t" || d.ProductID != "a" || !slices.Equal(d.SimilarPI, []string{"b"}) || d.GroupID != "g" || d.GroupSize != 2 {
		t.Errorf("title %q, decoded %+v, %v", s.Title, d, err)
	}
}

// BenchmarkDecodeList decodes a list document of 20 neighbours, as an
// incremental run without its snapshot reads every one back, with
// DecodeList and, in the same run for the ratio, with the single typed
// json.Unmarshal the pipeline's own decoder used before (which named no
// bad field and rounded no score twice only by decoding into float32):
//
//	nice -n 19 go test -run '^$' -bench DecodeList -benchmem -count 5 ./esindex/
func BenchmarkDecodeList(b *testing.B) {
	list := make([]neighbors.Neighbor, 20)
	for i := range list {
		list[i] = neighbors.Neighbor{ID: "p-" + strconv.Itoa(1000000+i*7919), Similarity: float32(9000-i*37) / 10000}
	}
	src := esindex.SimilarBody("p-0000042", list, "p-0000042", 3)
	b.Run("DecodeList", func(b *testing.B) {
		for range b.N {
			d, err := esindex.DecodeList(src)
			if err != nil || len(d.Neighbors()) != 20 {
				b.Fatal(err)
			}
		}
	})
	b.Run("typed-Unmarshal", func(b *testing.B) {
		for range b.N {
			var doc struct {
				SimilarPI []string `json:"similar_pi"`
				Similar   []struct {
					PI         string  `json:"pi"`
					Similarity float32 `json:"similarity"`
				} `json:"similar"`
				GroupID   string  `json:"group_id"`
				GroupSize float64 `json:"group_size"`
			}
			if err := json.Unmarshal(src, &doc); err != nil {
				b.Fatal(err)
			}
			out := make([]neighbors.Neighbor, len(doc.Similar))
			for i, s := range doc.Similar {
				out[i] = neighbors.Neighbor{ID: s.PI, Similarity: s.Similarity}
			}
			if len(out) != 20 {
				b.Fatal(len(out))
			}
		}
	})
}
