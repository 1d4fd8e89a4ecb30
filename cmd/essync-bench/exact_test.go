package main

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestTopRowsKeepsTheBest: offered rows in any order, and split between two
// lists that are then merged, topRows keeps exactly the k best, best first.
func TestTopRowsKeepsTheBest(t *testing.T) {
	for _, tc := range []struct {
		name    string
		rows, k int
	}{
		{"fewer rows than k", 3, 5},
		{"k of many", 1000, 20},
		{"k of one", 50, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, uint64(tc.rows)))
			scores := make([]float32, tc.rows)
			for i := range scores {
				scores[i] = rng.Float32()
			}
			want := make([]int, tc.rows)
			for i := range want {
				want[i] = i
			}
			slices.SortFunc(want, func(a, b int) int {
				if scores[a] > scores[b] {
					return -1
				}
				return 1
			})
			want = want[:min(tc.k, tc.rows)]
			whole, first, second := newTopRows(tc.k), newTopRows(tc.k), newTopRows(tc.k)
			for _, r := range rng.Perm(tc.rows) {
				whole.offer(r, scores[r])
				if r%2 == 0 {
					first.offer(r, scores[r])
				} else {
					second.offer(r, scores[r])
				}
			}
			first.merge(second)
			if got := whole.rows(); !slices.Equal(got, want) {
				t.Errorf("one list kept %v, want %v", got, want)
			}
			if got := first.rows(); !slices.Equal(got, want) {
				t.Errorf("two merged lists kept %v, want %v", got, want)
			}
		})
	}
}
