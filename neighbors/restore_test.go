package neighbors

import (
	"context"
	"slices"
	"testing"
)

func idsOf(ns []Neighbor) []string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = n.ID
	}
	return out
}

func TestRestoreRoundTripsAndHealsShortLists(t *testing.T) {
	const dims, k = 24, 5
	ids, vecs := clustered(300, dims, 4, 31)
	orig, err := Build(ids, vecs, dims, Options{K: k, Exact: true})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		damage   func(lists [][]string)
		repaired []string
	}{
		{"as stored", func([][]string) {}, nil},
		{"entry dropped", func(l [][]string) { l[3] = l[3][1:] }, []string{ids[3]}},
		{"unknown and self entries", func(l [][]string) { l[7][0] = "gone"; l[9][1] = ids[9] }, []string{ids[7], ids[9]}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lists := make([][]string, len(ids))
			for i, id := range ids {
				lists[i] = idsOf(orig.Neighbors(id))
			}
			tt.damage(lists)
			g, repaired, err := Restore(ids, vecs, dims, lists, Options{K: k, Exact: true})
			if err != nil {
				t.Fatal(err)
			}
			slices.Sort(tt.repaired)
			if !slices.Equal(repaired, tt.repaired) {
				t.Errorf("repaired %v, want %v", repaired, tt.repaired)
			}
			for _, id := range ids {
				if !slices.Equal(idsOf(g.Neighbors(id)), idsOf(orig.Neighbors(id))) {
					t.Fatalf("%s: restored %v, built %v", id, g.Neighbors(id), orig.Neighbors(id))
				}
			}
		})
	}
}

func TestRestoreThenUpdateEqualsRebuild(t *testing.T) {
	const dims, k = 24, 5
	ids, vecs := clustered(300, dims, 4, 41)
	_, extra := clustered(10, dims, 2, 42)
	orig, err := Build(ids, vecs, dims, Options{K: k, Exact: true})
	if err != nil {
		t.Fatal(err)
	}
	lists := make([][]string, len(ids))
	for i, id := range ids {
		lists[i] = idsOf(orig.Neighbors(id))
	}
	g, _, err := Restore(ids, vecs, dims, lists, Options{K: k, Exact: true})
	if err != nil {
		t.Fatal(err)
	}
	add := map[string][]float32{"new-1": extra[:dims], "new-2": extra[dims : 2*dims], ids[4]: extra[2*dims : 3*dims]}
	remove := []string{ids[0], ids[100]}
	if _, err := g.Update(add, remove); err != nil {
		t.Fatal(err)
	}
	var nextIDs []string
	var nextVecs []float32
	for i, id := range ids {
		if slices.Contains(remove, id) {
			continue
		}
		nextIDs = append(nextIDs, id)
		if v, ok := add[id]; ok {
			nextVecs = append(nextVecs, v...)
		} else {
			nextVecs = append(nextVecs, vecs[i*dims:(i+1)*dims]...)
		}
	}
	for _, id := range []string{"new-1", "new-2"} {
		nextIDs = append(nextIDs, id)
		nextVecs = append(nextVecs, add[id]...)
	}
	want, err := Build(nextIDs, nextVecs, dims, Options{K: k, Exact: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range nextIDs {
		if !slices.Equal(idsOf(g.Neighbors(id)), idsOf(want.Neighbors(id))) {
			t.Errorf("%s: restored+updated %v, rebuilt %v", id, idsOf(g.Neighbors(id)), idsOf(want.Neighbors(id)))
		}
	}
}

func TestRestoreRowsRoundTripsAndHealsDamagedRows(t *testing.T) {
	const dims, k = 24, 5
	ids, vecs := clustered(300, dims, 4, 33)
	orig, err := Build(ids, vecs, dims, Options{K: k, Exact: true})
	if err != nil {
		t.Fatal(err)
	}
	row := map[string]int32{}
	for i, id := range ids {
		row[id] = int32(i)
	}
	tests := []struct {
		name     string
		damage   func(lists []int32)
		repaired []string
	}{
		{"as stored", func([]int32) {}, nil},
		{"entry missing (-1)", func(l []int32) { l[3*k+4] = -1 }, []string{ids[3]}},
		{"out of range, self and duplicate entries", func(l []int32) { l[7*k] = 300; l[9*k+1] = 9; l[11*k+2] = l[11*k+3] }, []string{ids[11], ids[7], ids[9]}}, // sorted by id,
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lists := make([]int32, len(ids)*k)
			for i, id := range ids {
				for e, nb := range orig.Neighbors(id) {
					lists[i*k+e] = row[nb.ID]
				}
			}
			tt.damage(lists)
			g, repaired, err := RestoreRows(context.Background(), ids, vecs, dims, lists, k, Options{K: k, Exact: true})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(repaired, tt.repaired) {
				t.Errorf("repaired %v, want %v", repaired, tt.repaired)
			}
			for _, id := range ids {
				if !slices.Equal(idsOf(g.Neighbors(id)), idsOf(orig.Neighbors(id))) {
					t.Fatalf("%s: restored %v, built %v", id, g.Neighbors(id), orig.Neighbors(id))
				}
			}
		})
	}
	if _, _, err := RestoreRows(context.Background(), ids, vecs, dims, make([]int32, 7), k, Options{K: k}); err == nil {
		t.Error("lists of the wrong length were accepted")
	}
}

// listRowsOf is g's lists as ListRows lays them out.
func listRowsOf(g *Graph, k int) ([]int32, []float32) {
	ids := g.IDs()
	rows, sims := make([]int32, len(ids)*k), make([]float32, len(ids)*k)
	lr := g.ListRows()
	for p, id := range ids {
		lr.Row(id, rows[p*k:(p+1)*k], sims[p*k:(p+1)*k])
	}
	return rows, sims
}

func TestRestoreScoredEqualsRescored(t *testing.T) {
	const dims, k = 16, 8
	for _, tt := range []struct {
		name  string
		n     int
		exact bool
	}{{"exact", 400, true}, {"approximate", exactBelow + 500, false}} {
		t.Run(tt.name, func(t *testing.T) {
			ids, vecs := clustered(tt.n, dims, 6, 77)
			opts := Options{K: k, Exact: tt.exact, Seed: 3, RestoreRecallSample: 8}
			orig, err := Build(ids, vecs, dims, opts)
			if err != nil {
				t.Fatal(err)
			}
			rows, sims := listRowsOf(orig, k)
			scored, repaired, err := RestoreScored(context.Background(), ids, vecs, dims, rows, sims, k, opts)
			if err != nil || len(repaired) > 0 {
				t.Fatalf("RestoreScored: repaired %v, err %v", repaired, err)
			}
			rescored, _, err := RestoreRows(context.Background(), ids, vecs, dims, rows, k, opts)
			if err != nil {
				t.Fatal(err)
			}
			gotRows, gotSims := listRowsOf(scored, k)
			if !slices.Equal(gotRows, rows) || !slices.Equal(gotSims, sims) {
				t.Fatal("the scored restore's lists differ from the stored ones")
			}
			reRows, reSims := listRowsOf(rescored, k)
			if !slices.Equal(reRows, rows) {
				t.Fatal("the re-scored restore's lists differ from the stored ones")
			}
			differ := 0
			for e := range sims {
				if sims[e] != reSims[e] {
					differ++
				}
			}
			if differ > 0 {
				t.Errorf("%d of %d stored similarities differ from a re-score", differ, len(sims))
			}
			for _, id := range ids {
				if a, b := scored.Neighbors(id), rescored.Neighbors(id); !slices.Equal(a, b) {
					t.Fatalf("%s: scored %v, re-scored %v", id, a, b)
				}
			}
		})
	}
}

func TestRestoreScoredRepairsDamagedRows(t *testing.T) {
	const dims, k = 16, 5
	ids, vecs := clustered(200, dims, 4, 78)
	orig, err := Build(ids, vecs, dims, Options{K: k, Exact: true})
	if err != nil {
		t.Fatal(err)
	}
	nan := float32(0)
	nan = nan / nan
	tests := []struct {
		name     string
		damage   func(rows []int32, sims []float32)
		repaired []string
	}{
		{"as stored", func([]int32, []float32) {}, nil},
		{"entry dropped", func(r []int32, _ []float32) { r[3*k+k-1] = -1 }, []string{ids[3]}},
		{"self, unknown and twice", func(r []int32, _ []float32) { r[7*k] = 7; r[9*k+1] = 9999; r[11*k+2] = r[11*k] },
			[]string{ids[7], ids[9], ids[11]}},
		{"similarity not a number or out of range", func(_ []int32, s []float32) { s[13*k] = nan; s[15*k+2] = 3 },
			[]string{ids[13], ids[15]}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows, sims := listRowsOf(orig, k)
			tt.damage(rows, sims)
			g, repaired, err := RestoreScored(context.Background(), ids, vecs, dims, rows, sims, k, Options{K: k, Exact: true})
			if err != nil {
				t.Fatal(err)
			}
			slices.Sort(tt.repaired)
			if !slices.Equal(repaired, tt.repaired) {
				t.Errorf("repaired %v, want %v", repaired, tt.repaired)
			}
			for _, id := range ids {
				if !slices.Equal(g.Neighbors(id), orig.Neighbors(id)) {
					t.Fatalf("%s: restored %v, built %v", id, g.Neighbors(id), orig.Neighbors(id))
				}
			}
		})
	}
}

// TestMeasureRecallApart: a restore told to measure no recall reports 0,
// and MeasureRecall then gives the figure the restore would have measured
// (same sample, chunk by chunk over the items); a cancelled context stops it
// with the context's error instead of a figure.
func TestMeasureRecallApart(t *testing.T) {
	const dims, k = 16, 8
	ids, vecs := clustered(exactBelow+recallChunk/8, dims, 6, 79)
	opts := Options{K: k, Seed: 5, RestoreRecallSample: 8}
	orig, err := Build(ids, vecs, dims, opts)
	if err != nil {
		t.Fatal(err)
	}
	rows, sims := listRowsOf(orig, k)
	inRestore, _, err := RestoreScored(context.Background(), ids, vecs, dims, rows, sims, k, opts)
	if err != nil {
		t.Fatal(err)
	}
	drops := 0
	apart := opts
	apart.RestoreRecallSample = -1
	apart.DropPages = func() { drops++ }
	g, _, err := RestoreScored(context.Background(), ids, vecs, dims, rows, sims, k, apart)
	if err != nil {
		t.Fatal(err)
	}
	if g.Recall() != 0 {
		t.Errorf("Recall() after a restore without a sample = %v, want 0 (not measured)", g.Recall())
	}
	drops = 0
	got, err := g.MeasureRecall(context.Background(), 8)
	if err != nil || got != inRestore.Recall() || got <= 0 {
		t.Errorf("MeasureRecall = %v (%v), want the restore's %v", got, err, inRestore.Recall())
	}
	if drops == 0 {
		t.Error("MeasureRecall dropped no pages")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if r, err := g.MeasureRecall(ctx, 8); err == nil {
		t.Errorf("MeasureRecall on a cancelled context = %v, want its error", r)
	}
	exact, err := Build(ids[:300], vecs[:300*dims], dims, Options{K: k, Exact: true})
	if err != nil {
		t.Fatal(err)
	}
	if r, err := exact.MeasureRecall(ctx, 8); r != 1 || err != nil {
		t.Errorf("exact graph: MeasureRecall = %v (%v), want 1 without a pass", r, err)
	}
}
