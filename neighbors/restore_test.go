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
