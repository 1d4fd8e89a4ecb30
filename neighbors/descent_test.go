package neighbors

import (
	"slices"
	"testing"
)

// TestJoinBigGroupOffersLikeAllPairs: a group too big for all its pairs to be
// offered (offerBest keeps each member's best) leaves every list exactly as
// offering every pair would, whether the lists start empty or full.
func TestJoinBigGroupOffersLikeAllPairs(t *testing.T) {
	const n, dims = 900, 32
	ids, vecs := clustered(n, dims, 6, 5)
	tests := []struct {
		name          string
		news, olds    [2]int // item ranges [lo, hi)
		workers, init int    // init: items whose lists a first group fills
	}{
		{"leaf, empty lists", [2]int{0, 600}, [2]int{0, 0}, 2, 0},
		{"news and olds, empty lists", [2]int{100, 400}, [2]int{500, 800}, 2, 0},
		{"news and olds, full lists", [2]int{100, 400}, [2]int{500, 800}, 1, n},
		{"leaf of chunks, full lists", [2]int{0, 2*chunkRows + 37}, [2]int{0, 0}, 2, n},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, err := newGraph(ids, vecs, dims, Options{K: 8, Workers: tt.workers}, true)
			if err != nil {
				t.Fatal(err)
			}
			ref := newLists(n, g.l.k, &g.ids)
			span := func(r [2]int) []int32 {
				var out []int32
				for i := r[0]; i < r[1]; i++ {
					out = append(out, int32(i))
				}
				return out
			}
			// every pair of rs × cs (c after r), offered both ways
			// (scored by dots, which sums like the tile kernel)
			offerAll := func(l *lists, rs, cs []int32) {
				var s [1]float32
				for r, a := range rs {
					for _, b := range cs[r+1:] {
						g.m.dots(a, []int32{b}, s[:])
						l.insert(a, b, s[0], 1)
						l.insert(b, a, s[0], 1)
					}
				}
			}
			joinOne := func(news, olds []int32) {
				g.join(1, len(news)*g.l.k, 1, func(_ int, gr *group) {
					gr.news = append(gr.news[:0], news...)
					gr.olds = append(gr.olds[:0], olds...)
				})
			}
			if tt.init > 0 {
				// a first, small group fills every list
				all := span([2]int{0, tt.init})
				for lo := 0; lo < len(all); lo += 3 * g.l.k {
					part := all[lo:min(lo+3*g.l.k, len(all))]
					joinOne(part, nil)
					offerAll(ref, part, part)
				}
			}
			news, olds := span(tt.news), span(tt.olds)
			if len(news)+len(olds) <= bigGroup*g.l.k {
				t.Fatalf("group of %d is not big", len(news)+len(olds))
			}
			joinOne(news, olds)
			offerAll(ref, news, append(slices.Clone(news), olds...))
			for i := range int32(n) {
				gi, gs := g.l.row(i)
				ri, rs := ref.row(i)
				if !slices.Equal(gi, ri) || !slices.Equal(gs, rs) {
					t.Fatalf("item %d: join %v %v, all pairs %v %v", i, gi, gs, ri, rs)
				}
			}
		})
	}
}

// TestAutoLeaf: the default leaf grows with N so a tree stays 8–9 levels
// deep, within its bounds.
func TestAutoLeaf(t *testing.T) {
	tests := []struct{ n, k, want int }{
		{16_500, 20, 64},
		{100_000, 20, 256},
		{300_000, 20, 1024},
		{1_000_000, 20, 2048},
		{100_000_000, 20, maxLeaf},
		{1_000, 20, 32},
		{20_000, 100, 112}, // K+12 is the floor for a large K
	}
	for _, tt := range tests {
		if got := autoLeaf(tt.n, tt.k); got != tt.want {
			t.Errorf("autoLeaf(%d, %d) = %d, want %d", tt.n, tt.k, got, tt.want)
		}
	}
}
