package neighbors

import (
	"math/rand/v2"
	"testing"
)

func TestExactTopKEqualsExactBuild(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	const n, dims, k = 700, 24, 10
	ids, vecs := idsN(n), unitRows(rng, n, dims)
	g, err := Build(ids, vecs, dims, Options{K: k, Exact: true})
	if err != nil {
		t.Fatal(err)
	}
	queries := []int{0, 1, 63, 64, 65, 350, 699}
	got, err := ExactTopK(ids, vecs, dims, queries, k, 3)
	if err != nil {
		t.Fatal(err)
	}
	for qi, q := range queries {
		want := g.Neighbors(ids[q])
		if len(got[qi].Rows) != len(want) {
			t.Fatalf("query %d: %d rows, want %d", q, len(got[qi].Rows), len(want))
		}
		wantSet := map[string]bool{}
		for _, nb := range want {
			wantSet[nb.ID] = true
		}
		for r, row := range got[qi].Rows {
			if row == q || !wantSet[ids[row]] {
				t.Errorf("query %d: rank %d is %s, not in the exact Build's list", q, r, ids[row])
			}
			if r > 0 && got[qi].Similarities[r] > got[qi].Similarities[r-1] {
				t.Errorf("query %d: not sorted at %d", q, r)
			}
		}
	}
}

func TestExactTopKRejectsBadInput(t *testing.T) {
	ids, vecs := idsN(3), make([]float32, 6)
	for _, tc := range []struct {
		name    string
		dims, k int
		queries []int
	}{
		{"dims", 0, 1, []int{0}},
		{"size", 3, 1, []int{0}},
		{"k", 2, 0, []int{0}},
		{"query", 2, 1, []int{3}},
	} {
		if _, err := ExactTopK(ids, vecs, tc.dims, tc.queries, tc.k, 1); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
}
