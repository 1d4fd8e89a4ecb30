package neighbors

import (
	"math"
	"slices"
	"testing"
)

// rebuild returns a fresh exact graph over the given ids/rows.
func rebuildExact(t *testing.T, ids []string, rows map[string][]float32, dims, k int) *Graph {
	t.Helper()
	vecs := make([]float32, 0, len(ids)*dims)
	for _, id := range ids {
		vecs = append(vecs, rows[id]...)
	}
	g, err := Build(ids, vecs, dims, Options{K: k, Exact: true})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestUpdateExactEqualsRebuild(t *testing.T) {
	const dims, k = 24, 5
	ids, vecs := clustered(400, dims, 4, 21)
	rows := map[string][]float32{}
	for i, id := range ids {
		rows[id] = vecs[i*dims : (i+1)*dims]
	}
	_, extra := clustered(30, dims, 3, 22)
	tests := []struct {
		name   string
		add    []string // ids to add, taking vectors from extra in order
		remove []string
	}{
		{"nothing", nil, nil},
		{"add only", []string{"n-1", "n-2", "n-3"}, nil},
		{"remove only", nil, []string{"p-0", "p-17", "p-399"}},
		{"add and remove", []string{"n-1", "n-9"}, []string{"p-5", "p-6", "p-7", "p-8"}},
		{"replace a vector", []string{"p-10"}, nil},
		{"unknown removal", nil, []string{"nope"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, err := Build(ids, vecs, dims, Options{K: k, Exact: true})
			if err != nil {
				t.Fatal(err)
			}
			old := map[string][]Neighbor{}
			for _, id := range ids {
				old[id] = g.Neighbors(id)
			}
			add := map[string][]float32{}
			next := map[string][]float32{}
			for id, v := range rows {
				next[id] = v
			}
			for e, id := range tt.add {
				add[id] = extra[e*dims : (e+1)*dims]
				next[id] = add[id]
			}
			for _, id := range tt.remove {
				delete(next, id)
			}
			changed, err := g.Update(add, tt.remove)
			if err != nil {
				t.Fatal(err)
			}
			nextIDs := make([]string, 0, len(next))
			for id := range next {
				nextIDs = append(nextIDs, id)
			}
			slices.Sort(nextIDs)
			want := rebuildExact(t, nextIDs, next, dims, k)
			var wantChanged []string
			for _, id := range nextIDs {
				got := g.Neighbors(id)
				if !sameIDs(got, want.Neighbors(id)) {
					t.Fatalf("%s after update: %v, rebuild: %v", id, got, want.Neighbors(id))
				}
				if _, isNew := add[id]; isNew || !slices.Equal(old[id], got) {
					wantChanged = append(wantChanged, id)
				}
			}
			if !slices.Equal(changed, wantChanged) {
				t.Fatalf("changed = %v, want %v", changed, wantChanged)
			}
			if g.Len() != len(nextIDs) {
				t.Fatalf("Len() = %d, want %d", g.Len(), len(nextIDs))
			}
			again, err := g.Update(add, tt.remove)
			if err != nil || len(again) != 0 {
				t.Fatalf("second update changed %v (err %v), want nothing", again, err)
			}
		})
	}
}

func TestUpdateRejectsBadInput(t *testing.T) {
	g, err := Build([]string{"a", "b"}, []float32{1, 0, 0, 1}, 2, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for name, tt := range map[string]struct {
		add    map[string][]float32
		remove []string
	}{
		"wrong dims":     {map[string][]float32{"c": {1, 0, 0}}, nil},
		"not unit":       {map[string][]float32{"c": {1, 1}}, nil},
		"empty id":       {map[string][]float32{"": {1, 0}}, nil},
		"add and remove": {map[string][]float32{"c": {1, 0}}, []string{"c"}},
	} {
		if _, err := g.Update(tt.add, tt.remove); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if g.Len() != 2 {
		t.Fatalf("failed updates changed the graph: %d items", g.Len())
	}
}

func TestUpdateApproximateKeepsRecall(t *testing.T) {
	const dims = 64
	ids, vecs := clustered(exactBelow+2000, dims, 8, 31)
	g, err := Build(ids[:exactBelow+1500], vecs[:(exactBelow+1500)*dims], dims, Options{Seed: 2})
	if err != nil {
		t.Fatal(err)
	}
	add := map[string][]float32{}
	for i := exactBelow + 1500; i < len(ids); i++ {
		add[ids[i]] = vecs[i*dims : (i+1)*dims]
	}
	var remove []string
	for i := 0; i < 300; i++ {
		remove = append(remove, ids[i*7])
	}
	changed, err := g.Update(add, remove)
	if err != nil {
		t.Fatal(err)
	}
	if len(changed) < 500 {
		t.Fatalf("only %d changed ids, want at least the 500 new ones", len(changed))
	}
	keep := map[string][]float32{}
	var keepIDs []string
	gone := map[string]bool{}
	for _, id := range remove {
		gone[id] = true
	}
	for i, id := range ids {
		if !gone[id] {
			keep[id] = vecs[i*dims : (i+1)*dims]
			keepIDs = append(keepIDs, id)
		}
	}
	exact := rebuildExact(t, keepIDs, keep, dims, 20)
	if r := recallOf(t, exact, g, keepIDs); r < 0.98 {
		t.Fatalf("recall after update %.4f, want ≥ 0.98", r)
	}
	for _, id := range remove {
		if g.Neighbors(id) != nil {
			t.Fatalf("removed %s still has neighbours", id)
		}
	}
}

// TestRestoredApproximateUpdateTouchesFew checks that after Restore (whose
// working lists are not full) an Update reports exactly the items whose
// reported top-K changed, and that those are few.
func TestRestoredApproximateUpdateTouchesFew(t *testing.T) {
	const dims = 16
	ids, vecs := clustered(exactBelow+100, dims, 8, 51)
	n := exactBelow + 90
	built, err := Build(ids[:n], vecs[:n*dims], dims, Options{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	lists := make([][]string, n)
	for i, id := range ids[:n] {
		lists[i] = idsOf(built.Neighbors(id))
	}
	g, _, err := Restore(ids[:n], vecs[:n*dims], dims, lists, Options{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	before := map[string][]Neighbor{}
	for _, id := range ids[:n] {
		before[id] = g.Neighbors(id)
	}
	add := map[string][]float32{}
	for i := n; i < len(ids); i++ {
		add[ids[i]] = vecs[i*dims : (i+1)*dims]
	}
	changed, err := g.Update(add, nil)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, id := range ids {
		if _, isNew := add[id]; isNew || !slices.Equal(before[id], g.Neighbors(id)) {
			want = append(want, id)
		}
	}
	slices.Sort(want)
	if !slices.Equal(changed, want) {
		t.Fatalf("changed %d ids, want the %d whose lists differ", len(changed), len(want))
	}
	if len(changed) > 20*len(add)*2 {
		t.Fatalf("%d changed ids for %d additions", len(changed), len(add))
	}
}

// TestRestoredUpdateBySearchKeepsRecall checks the graph-search insertion
// (used above searchAbove) against brute-force insertion on a restored
// graph: both keep recall against an exact rebuild, the new items' own
// lists included, and the search changes about as many lists.
func TestRestoredUpdateBySearchKeepsRecall(t *testing.T) {
	const dims = 64
	ids, vecs := clustered(exactBelow+2000, dims, 8, 37)
	n := exactBelow + 1500
	built, err := Build(ids[:n], vecs[:n*dims], dims, Options{Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	lists := make([][]string, n)
	for i, id := range ids[:n] {
		lists[i] = idsOf(built.Neighbors(id))
	}
	add := map[string][]float32{}
	var fresh []string
	for i := n; i < len(ids); i++ {
		add[ids[i]] = vecs[i*dims : (i+1)*dims]
		fresh = append(fresh, ids[i])
	}
	var remove []string
	gone := map[string]bool{}
	for i := range 250 {
		remove = append(remove, ids[i*11])
		gone[ids[i*11]] = true
	}
	keep := map[string][]float32{}
	var keepIDs []string
	for i, id := range ids {
		if !gone[id] {
			keep[id] = vecs[i*dims : (i+1)*dims]
			keepIDs = append(keepIDs, id)
		}
	}
	exact := rebuildExact(t, keepIDs, keep, dims, 20)
	defer func(v int) { searchAbove = v }(searchAbove)
	changedBy := map[string]int{}
	for _, tc := range []struct {
		name  string
		above int
	}{{"brute force", math.MaxInt}, {"graph search", 0}} {
		t.Run(tc.name, func(t *testing.T) {
			g, _, err := Restore(ids[:n], vecs[:n*dims], dims, lists, Options{Seed: 3})
			if err != nil {
				t.Fatal(err)
			}
			searchAbove = tc.above
			changed, err := g.Update(add, remove)
			if err != nil {
				t.Fatal(err)
			}
			changedBy[tc.name] = len(changed)
			t.Logf("recall %.4f, new items %.4f, %d lists changed", recallOf(t, exact, g, keepIDs), recallOf(t, exact, g, fresh), len(changed))
			if r := recallOf(t, exact, g, keepIDs); r < 0.98 {
				t.Errorf("recall after update %.4f, want ≥ 0.98", r)
			}
			if r := recallOf(t, exact, g, fresh); r < 0.98 {
				t.Errorf("recall of the new items' lists %.4f, want ≥ 0.98", r)
			}
			for _, id := range remove {
				if g.Neighbors(id) != nil {
					t.Fatalf("removed %s still has neighbours", id)
				}
			}
		})
	}
	if a, b := changedBy["graph search"], changedBy["brute force"]; float64(a) < 0.95*float64(b) {
		t.Errorf("graph search changed %d lists, brute force %d: the search misses reverse neighbours", a, b)
	}
}

// TestUpdateBySearchReplacingEveryItem checks the graph-search path when no
// item of the graph before is left: the new items' lists come from among
// themselves alone, exactly.
func TestUpdateBySearchReplacingEveryItem(t *testing.T) {
	const dims, n = 16, exactBelow + 10
	ids, vecs := clustered(2*n, dims, 8, 53)
	g, err := Build(ids[:n], vecs[:n*dims], dims, Options{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer func(v int) { searchAbove = v }(searchAbove)
	searchAbove = 0
	add := map[string][]float32{}
	for i := n; i < 2*n; i++ {
		add[ids[i]] = vecs[i*dims : (i+1)*dims]
	}
	if _, err := g.Update(add, ids[:n]); err != nil {
		t.Fatal(err)
	}
	rows := map[string][]float32{}
	for id, v := range add {
		rows[id] = v
	}
	exact := rebuildExact(t, ids[n:], rows, dims, 20)
	if r := recallOf(t, exact, g, ids[n:]); r != 1 {
		t.Errorf("recall %.4f after replacing every item, want 1 (new × new is brute force)", r)
	}
}
