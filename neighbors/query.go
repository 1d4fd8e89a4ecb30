package neighbors

import "fmt"

// Ranked is one query's exact top-K: row indices of the matrix, most similar
// first (ties by id), with their untruncated dot products.
type Ranked struct {
	Rows         []int
	Similarities []float32
}

// ExactTopK returns the exact top-k of each row in queries among all rows of
// vectors (len(ids) rows of dims floats, row-major), the row itself excluded.
// It is the same blocked brute force as an exact Build, but for a few query
// rows only, so auditing a sample of stored lists costs O(len(queries)·N), not
// O(N²). Rows are not required to be unit length: the scores are plain dot
// products. The matrix is read, never modified or kept.
func ExactTopK(ids []string, vectors []float32, dims int, queries []int, k, workers int) ([]Ranked, error) {
	if dims <= 0 {
		return nil, fmt.Errorf("neighbors: dims must be positive, got %d", dims)
	}
	if len(vectors) != len(ids)*dims {
		return nil, fmt.Errorf("neighbors: %d floats for %d ids of %d dims, want %d", len(vectors), len(ids), dims, len(ids)*dims)
	}
	if k <= 0 {
		return nil, fmt.Errorf("neighbors: k must be positive, got %d", k)
	}
	opts, err := normalize(Options{K: k, Workers: workers})
	if err != nil {
		return nil, err
	}
	g := &Graph{opts: opts, ids: ids, m: matrix{dims: dims, rows: make([][]float32, len(ids))}}
	cs := make([]int32, len(ids))
	for i := range ids {
		g.m.rows[i] = vectors[i*dims : (i+1)*dims : (i+1)*dims]
		cs[i] = int32(i)
	}
	qs := make([]int32, len(queries))
	for i, q := range queries {
		if q < 0 || q >= len(ids) {
			return nil, fmt.Errorf("neighbors: query row %d out of range 0..%d", q, len(ids)-1)
		}
		qs[i] = int32(q)
	}
	res := g.exactRows(qs, cs, k, nil)
	out := make([]Ranked, len(qs))
	for i := range qs {
		idx, sim := res.row(int32(i))
		r := Ranked{Rows: make([]int, len(idx)), Similarities: append([]float32(nil), sim...)}
		for t, j := range idx {
			r.Rows[t] = int(j)
		}
		out[i] = r
	}
	return out, nil
}
