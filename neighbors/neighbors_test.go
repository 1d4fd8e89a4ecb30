package neighbors

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// naive is the obvious O(N²) top-K in float64, ties by id, for checking.
func naive(ids []string, vecs []float32, dims, k int) map[string][]Neighbor {
	out := make(map[string][]Neighbor, len(ids))
	type cand struct {
		id string
		s  float64
	}
	for i := range ids {
		var cs []cand
		for j := range ids {
			if i != j {
				cs = append(cs, cand{ids[j], refDot(vecs[i*dims:(i+1)*dims], vecs[j*dims:(j+1)*dims])})
			}
		}
		slices.SortFunc(cs, func(a, b cand) int {
			if a.s != b.s {
				if a.s > b.s {
					return -1
				}
				return 1
			}
			return strings.Compare(a.id, b.id)
		})
		for _, c := range cs[:min(k, len(cs))] {
			out[ids[i]] = append(out[ids[i]], Neighbor{c.id, truncate(float32(c.s))})
		}
	}
	return out
}

func idsN(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("id-%03d", (i*7919)%n) // not in row order
	}
	return ids
}

// sameSets compares neighbour id sets; scores may differ in the last decimal
// between summation orders, so only ids are compared when they are not tied.
func sameIDs(a, b []Neighbor) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].ID != b[i].ID && math.Abs(float64(a[i].Similarity-b[i].Similarity)) > 1e-4 {
			return false
		}
	}
	return true
}

func TestExactMatchesNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	dup := unitRows(rng, 30, 16)
	copy(dup[16*3:16*4], dup[0:16]) // rows 0 and 3 identical
	copy(dup[16*7:16*8], dup[0:16]) // and row 7
	tests := []struct {
		name    string
		n, dims int
		k       int
		vecs    []float32
		workers int
	}{
		{"no items", 0, 8, 5, nil, 0},
		{"one item", 1, 8, 5, nil, 0},
		{"n below k", 4, 8, 20, nil, 0},
		{"n equals k+1", 21, 33, 20, nil, 0},
		{"blocks and ragged edges", 203, 40, 10, nil, 2},
		{"single worker", 150, 19, 7, nil, 1},
		{"identical vectors tie by id", 30, 16, 5, dup, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vecs := tt.vecs
			if vecs == nil {
				vecs = unitRows(rng, tt.n, tt.dims)
			}
			ids := idsN(tt.n)
			g, err := Build(ids, vecs, tt.dims, Options{K: tt.k, Exact: true, Workers: tt.workers})
			if err != nil {
				t.Fatal(err)
			}
			if g.Recall() != 1 {
				t.Errorf("Recall() = %v, want 1", g.Recall())
			}
			want := naive(ids, vecs, tt.dims, tt.k)
			for _, id := range ids {
				if got := g.Neighbors(id); !sameIDs(got, want[id]) {
					t.Fatalf("Neighbors(%s) = %v, want %v", id, got, want[id])
				}
			}
		})
	}
}

func TestBuildRejectsBadInput(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	good := unitRows(rng, 3, 4)
	notUnit := slices.Clone(good)
	notUnit[5] *= 2
	tests := []struct {
		name string
		ids  []string
		vecs []float32
		dims int
		opts Options
		want string
	}{
		{"not unit length", []string{"a", "b", "c"}, notUnit, 4, Options{}, `row 1 (id "b")`},
		{"NaN", []string{"a", "b", "c"}, append(slices.Clone(good[:11]), float32(math.NaN())), 4, Options{}, `row 2`},
		{"duplicate id", []string{"a", "b", "a"}, good, 4, Options{}, `"a" appears at rows 0 and 2`},
		{"empty id", []string{"a", "", "c"}, good, 4, Options{}, "empty id"},
		{"short matrix", []string{"a", "b", "c"}, good[:11], 4, Options{}, "11 floats"},
		{"zero dims", []string{"a", "b", "c"}, good, 0, Options{}, "dims"},
		{"negative k", []string{"a", "b", "c"}, good, 4, Options{K: -1}, "K must be positive"},
		{"recall above one", []string{"a", "b", "c"}, good, 4, Options{Recall: 1.5}, "recall target"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Build(tt.ids, tt.vecs, tt.dims, tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.want)
			}
		})
	}
}

func TestNeighborsUnknownID(t *testing.T) {
	g, err := Build([]string{"a"}, []float32{1, 0}, 2, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := g.Neighbors("zzz"); got != nil {
		t.Fatalf("Neighbors(unknown) = %v", got)
	}
	if got := g.Neighbors("a"); len(got) != 0 {
		t.Fatalf("single item has neighbours %v", got)
	}
}

func TestTruncate(t *testing.T) {
	for _, tt := range []struct{ in, want float32 }{
		{0.93129, 0.9312}, {1, 1}, {1.0000001, 1}, {-0.12345, -0.1234}, {0.99999994, 0.9999},
	} {
		if got := truncate(tt.in); got != tt.want {
			t.Errorf("truncate(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

// recallOf compares a graph with an exact one over every item.
func recallOf(t *testing.T, exact, approx *Graph, ids []string) float64 {
	t.Helper()
	hit, total := 0, 0
	for _, id := range ids {
		want := exact.Neighbors(id)
		kth := want[len(want)-1].Similarity
		for _, n := range approx.Neighbors(id) {
			if n.Similarity >= kth {
				hit++
			}
		}
		total += len(want)
	}
	return float64(hit) / float64(total)
}

func TestApproximateMeetsRecallAndIsDeterministic(t *testing.T) {
	defer func(d int) { reducedDims = d }(reducedDims)
	tests := []struct {
		dims   int
		per    int // items a cluster
		coarse int // width of the principal subspace (reducedDims)
		target float64
	}{
		// A subspace far too narrow for the data (64 latent dimensions):
		// the fine phase on the full rows must finish the job.
		{48, 8, 16, 0.9},
		{48, 8, 128, 0.99},   // trees on the vectors themselves
		{256, 16, 128, 0.99}, // trees on the random-projection sketch
		// Coarse phase on the principal subspace (64 of 160 dimensions, so
		// the case stays cheap; it keeps the 64 latent ones); clusters of
		// about 6 near-duplicates, so most of each top-20 lies outside the
		// cluster.
		{160, 6, 64, 0.99},
	}
	for _, tt := range tests {
		dims, target := tt.dims, tt.target
		reducedDims = tt.coarse
		ids, vecs := clustered(exactBelow+500, dims, tt.per, 11)
		exact, err := Build(ids, vecs, dims, Options{Exact: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Run(fmt.Sprint(dims, "d,per", tt.per, ",sub", tt.coarse, "@", target), func(t *testing.T) {
			a, err := Build(ids, vecs, dims, Options{Recall: target, Seed: 3, Workers: 2})
			if err != nil {
				t.Fatal(err)
			}
			if a.Exact() {
				t.Fatal("items above exactBelow should use the approximate search")
			}
			// Rounds in each phase: none in the coarse one without a
			// subspace; none in the fine one when the subspace suffices.
			coarse, narrow := dims > 2*tt.coarse, tt.coarse < 64
			if (a.coarseRounds > 0) != coarse || (coarse && (a.fineRounds > 0) != narrow) {
				t.Errorf("%d descent rounds on the principal subspace, %d on the full rows", a.coarseRounds, a.fineRounds)
			}
			full := recallOf(t, exact, a, ids)
			if a.Recall() < target || full < target-0.01 {
				t.Fatalf("recall measured %.4f, over all items %.4f, want ≥ %v", a.Recall(), full, target)
			}
			if narrow {
				return // same descent code as the other 48-d case, checked there
			}
			// The second build also has a DropPages hook (what a caller
			// with mapped vectors sets): it is called, and changes nothing.
			drops := 0
			b, err := Build(ids, vecs, dims, Options{Recall: target, Seed: 3, Workers: 1, DropPages: func() { drops++ }})
			if err != nil {
				t.Fatal(err)
			}
			if want := 2 + a.coarseRounds; coarse && drops < want {
				t.Errorf("DropPages called %d times, want at least one per pass and per coarse recall measurement (%d)", drops, want)
			}
			for _, id := range ids {
				if !slices.Equal(a.Neighbors(id), b.Neighbors(id)) {
					t.Fatalf("same seed, different workers: %s: %v vs %v", id, a.Neighbors(id), b.Neighbors(id))
				}
			}
		})
	}
}

// TestApproximateAllIdentical: degenerate input for the trees (every
// projection ties) must still terminate with perfect recall, ties by id.
func TestApproximateAllIdentical(t *testing.T) {
	n, dims := exactBelow+10, 8
	vecs := make([]float32, n*dims)
	ids := make([]string, n)
	for i := range n {
		vecs[i*dims] = 1
		ids[i] = fmt.Sprintf("x-%05d", i)
	}
	g, err := Build(ids, vecs, dims, Options{K: 3})
	if err != nil {
		t.Fatal(err)
	}
	if g.Exact() || g.Recall() != 1 {
		t.Fatalf("exact %v, recall %v", g.Exact(), g.Recall())
	}
	for _, id := range []string{"x-00000", "x-00005", ids[n-1]} {
		for _, nb := range g.Neighbors(id) {
			if nb.Similarity != 1 {
				t.Fatalf("%s: %v", id, g.Neighbors(id))
			}
		}
	}
}
