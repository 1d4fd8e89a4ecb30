package main

import "slices"

// topRows keeps the k highest-scoring rows offered to it, best first: the
// bounded list behind the benchmarks' exact answers by brute force.
type topRows struct {
	k    int
	hits []scoredRow
}

type scoredRow struct {
	row   int
	score float32
}

func newTopRows(k int) *topRows { return &topRows{k: k, hits: make([]scoredRow, 0, k+1)} }

// offer keeps row if it scores above the k-th best so far.
func (t *topRows) offer(row int, score float32) {
	if len(t.hits) == t.k && score <= t.hits[t.k-1].score {
		return
	}
	i, _ := slices.BinarySearchFunc(t.hits, score, func(h scoredRow, s float32) int {
		if h.score > s {
			return -1
		}
		return 1
	})
	t.hits = slices.Insert(t.hits, i, scoredRow{row, score})
	if len(t.hits) > t.k {
		t.hits = t.hits[:t.k]
	}
}

// merge offers every row other keeps (the lists of two workers).
func (t *topRows) merge(other *topRows) {
	for _, h := range other.hits {
		t.offer(h.row, h.score)
	}
}

// rows are the kept rows, best first.
func (t *topRows) rows() []int {
	out := make([]int, len(t.hits))
	for i, h := range t.hits {
		out[i] = h.row
	}
	return out
}
