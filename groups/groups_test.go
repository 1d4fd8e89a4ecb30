package groups

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/essync/essync/benchdata"
	"github.com/essync/essync/neighbors"
)

// onCircle places each id at an angle (degrees) on the unit circle, so the
// similarity of two items is the cosine of their angle difference.
func onCircle(t *testing.T, at map[string]float64, k int) ([]string, [][]neighbors.Neighbor, []float32) {
	t.Helper()
	ids := make([]string, 0, len(at))
	for id := range at {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	vecs := make([]float32, 0, 2*len(ids))
	for _, id := range ids {
		r := at[id] * math.Pi / 180
		vecs = append(vecs, float32(math.Cos(r)), float32(math.Sin(r)))
	}
	g, err := neighbors.Build(ids, vecs, 2, neighbors.Options{K: k, Exact: true})
	if err != nil {
		t.Fatal(err)
	}
	lists := make([][]neighbors.Neighbor, len(ids))
	for i, id := range ids {
		lists[i] = g.Neighbors(id)
	}
	return ids, lists, vecs
}

// partition renders a Result as "a,b|c|…": groups by id, members sorted.
func partition(r *Result) string {
	var parts []string
	for _, g := range r.Groups() {
		var m []string
		for _, x := range g.Members {
			m = append(m, x.ID)
		}
		slices.Sort(m)
		parts = append(parts, strings.Join(m, ","))
	}
	slices.Sort(parts)
	return strings.Join(parts, "|")
}

func field(values map[string]string) func(string) string {
	return func(id string) string { return values[id] }
}

func TestCompute(t *testing.T) {
	// cos 10° = 0.985, cos 20° = 0.940, cos 40° = 0.766, cos 90° = 0.
	tests := []struct {
		name string
		at   map[string]float64
		k    int
		opts Options
		want string
	}{
		{"two tight groups and a loner",
			map[string]float64{"a1": 0, "a2": 5, "a3": 10, "b1": 90, "b2": 95, "c": 200},
			3, Options{Threshold: 0.9}, "a1,a2,a3|b1,b2|c"},
		{"below the threshold stays apart",
			map[string]float64{"a": 0, "b": 30},
			1, Options{Threshold: 0.9}, "a|b"},
		{"link must be mutual: b is a's nearest, a is not b's",
			// with k=1 b's nearest is c (2°), a's nearest is b (5°).
			map[string]float64{"a": 0, "b": 5, "c": 7},
			1, Options{Threshold: 0.9}, "a|b,c"},
		{"chain split by the medoid guard",
			// consecutive links at 20° (0.94) pass 0.9; the ends are 40° (0.766)
			// from the medoid d40, below 0.85.
			map[string]float64{"d00": 0, "d20": 20, "d40": 40, "d60": 60, "d80": 80},
			2, Options{Threshold: 0.9, MedoidThreshold: 0.85}, "d00|d20,d40,d60|d80"},
		{"same chain kept whole with a lenient medoid threshold",
			map[string]float64{"d00": 0, "d20": 20, "d40": 40, "d60": 60, "d80": 80},
			2, Options{Threshold: 0.9, MedoidThreshold: 0.7}, "d00,d20,d40,d60,d80"},
		{"same field: only equal brands link",
			map[string]float64{"x1": 0, "x2": 3, "y1": 6},
			2, Options{Threshold: 0.9, Same: field(map[string]string{"x1": "acme", "x2": "acme", "y1": "other"})}, "x1,x2|y1"},
		{"apart field: colours that differ never link, unknown does",
			map[string]float64{"red": 0, "blue": 3, "plain": 6},
			2, Options{Threshold: 0.9, Apart: field(map[string]string{"red": "red", "blue": "blue"})}, "blue,plain|red"},
		{"verifier turns down a link: two regions of one photo stay apart",
			map[string]float64{"left": 0, "right": 3, "left-pad": 1},
			2, Options{Threshold: 0.9, Verify: verifyBy(func(a, b string) bool { return a[:4] == b[:4] })}, "left,left-pad|right"},
		{"verifier turns down the bridge of a chain",
			map[string]float64{"a1": 0, "a2": 2, "b1": 6, "b2": 8},
			2, Options{Threshold: 0.9, Verify: verifyBy(func(a, b string) bool { return a[0] == b[0] })}, "a1,a2|b1,b2"},
		{"verifier that confirms everything changes nothing",
			map[string]float64{"a1": 0, "a2": 5, "a3": 10, "b1": 90, "b2": 95, "c": 200},
			3, Options{Threshold: 0.9, Verify: verifyBy(func(a, b string) bool { return true })}, "a1,a2,a3|b1,b2|c"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ids, lists, vecs := onCircle(t, tt.at, tt.k)
			r, err := Compute(ids, lists, vecs, 2, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if got := partition(r); got != tt.want {
				t.Errorf("groups %s, want %s", got, tt.want)
			}
			opts, _ := normalize(tt.opts)
			for _, g := range r.Groups() {
				for _, m := range g.Members {
					if m.SimilarityToMedoid < truncate(opts.MedoidThreshold) {
						t.Errorf("group %s: %s is %.4f from the medoid %s, below %.4f", g.ID, m.ID, m.SimilarityToMedoid, g.Medoid, opts.MedoidThreshold)
					}
					if id, size := r.Of(m.ID); id != g.ID || size != len(g.Members) {
						t.Errorf("Of(%s) = %s, %d; want %s, %d", m.ID, id, size, g.ID, len(g.Members))
					}
				}
			}
		})
	}
}

func TestGroupIDs(t *testing.T) {
	ids, lists, vecs := onCircle(t, map[string]float64{"p-2": 0, "p-1": 4, "p-3": 8, "q": 120}, 2)
	r, err := Compute(ids, lists, vecs, 2, Options{Threshold: 0.9})
	if err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]string{"p-2": "g-p-1", "p-3": "g-p-1", "q": "g-q"} {
		if got, _ := r.Of(id); got != want {
			t.Errorf("smallest id: Of(%s) = %s, want %s", id, got, want)
		}
	}
	day := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	seen := map[string]time.Time{"p-1": day.AddDate(0, 0, 2), "p-2": day.AddDate(0, 0, 1)}
	opts := Options{Threshold: 0.9, FirstSeen: func(id string) (time.Time, bool) { t, ok := seen[id]; return t, ok }}
	r, _ = Compute(ids, lists, vecs, 2, opts)
	if got, size := r.Of("p-1"); got != "g-p-2" || size != 3 {
		t.Errorf("first seen: Of(p-1) = %s, %d; want g-p-2 (the oldest), 3", got, size)
	}
	if got, size := r.Of("unknown"); got != "" || size != 0 {
		t.Errorf("Of(unknown) = %q, %d", got, size)
	}
	if st := r.Stats(); st.Groups != 1 || st.GroupedProducts != 3 || st.Largest != 3 || st.Links != 3 {
		t.Errorf("stats %+v", st)
	}
}

// TestDeterministic shuffles the input rows: the groups must not change.
func TestDeterministic(t *testing.T) {
	ids, vecs := benchdata.ClusteredOffers(2000, 32, 4, 7)
	want := ""
	rng := rand.New(rand.NewPCG(3, 3))
	for round := range 4 {
		perm := rng.Perm(len(ids))
		if round == 0 {
			perm = nil
		}
		sids, svecs := ids, vecs
		if perm != nil {
			sids, svecs = make([]string, len(ids)), make([]float32, len(vecs))
			for to, from := range perm {
				sids[to] = ids[from]
				copy(svecs[to*32:(to+1)*32], vecs[from*32:(from+1)*32])
			}
		}
		r, err := fromBuild(sids, svecs, 32, Options{Threshold: 0.9})
		if err != nil {
			t.Fatal(err)
		}
		got := partition(r)
		if round == 0 {
			want = got
			if r.Stats().Groups == 0 || r.Stats().Largest > 20 {
				t.Fatalf("test data should give groups of a few: %+v", r.Stats())
			}
			continue
		}
		if got != want {
			t.Fatalf("round %d: groups change with the row order", round)
		}
	}
}

func fromBuild(ids []string, vecs []float32, dims int, opts Options) (*Result, error) {
	g, err := neighbors.Build(ids, vecs, dims, neighbors.Options{K: 20, Exact: true})
	if err != nil {
		return nil, err
	}
	return FromGraph(g, ids, vecs, dims, opts)
}

func TestComputeErrors(t *testing.T) {
	one := []neighbors.Neighbor(nil)
	tests := []struct {
		name  string
		ids   []string
		lists [][]neighbors.Neighbor
		vecs  []float32
		opts  Options
		want  string
	}{
		{"lists", []string{"a"}, nil, []float32{1}, Options{}, "1 ids"},
		{"vectors", []string{"a"}, [][]neighbors.Neighbor{one}, []float32{1, 0}, Options{}, "want 1"},
		{"duplicate", []string{"a", "a"}, [][]neighbors.Neighbor{one, one}, []float32{1, 1}, Options{}, `"a" appears`},
		{"empty id", []string{""}, [][]neighbors.Neighbor{one}, []float32{1}, Options{}, "empty id"},
		{"threshold", []string{"a"}, [][]neighbors.Neighbor{one}, []float32{1}, Options{Threshold: 2}, "[-1, 1]"},
	}
	for _, tt := range tests {
		_, err := Compute(tt.ids, tt.lists, tt.vecs, 1, tt.opts)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one containing %q", tt.name, err, tt.want)
		}
	}
}

// verifyBy turns a pair predicate into an Options.Verify.
func verifyBy(same func(a, b string) bool) func([][2]string) ([]bool, error) {
	return func(pairs [][2]string) ([]bool, error) {
		out := make([]bool, len(pairs))
		for i, p := range pairs {
			out[i] = same(p[0], p[1])
		}
		return out, nil
	}
}

// TestVerifyStats checks what the verifier is asked and how the stats count
// its answers, and that its error or a short answer fails Compute.
func TestVerifyStats(t *testing.T) {
	ids, lists, vecs := onCircle(t, map[string]float64{"a": 0, "b": 2, "c": 4, "far": 120}, 3)
	var asked [][2]string
	opts := Options{Threshold: 0.9, Verify: func(pairs [][2]string) ([]bool, error) {
		asked = pairs
		return verifyBy(func(a, b string) bool { return a != "c" && b != "c" })(pairs)
	}}
	r, err := Compute(ids, lists, vecs, 2, opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(asked) != 3 {
		t.Errorf("verifier asked about %v, want the 3 pairs of a, b, c", asked)
	}
	for _, p := range asked {
		if p[0] == "far" || p[1] == "far" {
			t.Errorf("verifier asked about %v, which is no candidate", p)
		}
	}
	if st := r.Stats(); !st.Verified || st.Candidates != 3 || st.Rejected != 2 || st.Links != 1 {
		t.Errorf("stats %+v, want verified, 3 candidates, 2 rejected, 1 link", st)
	}
	if got := partition(r); got != "a,b|c|far" {
		t.Errorf("groups %s", got)
	}
	if st := mustCompute(t, ids, lists, vecs, Options{Threshold: 0.9}).Stats(); st.Verified || st.Candidates != 3 || st.Links != 3 {
		t.Errorf("without a verifier: stats %+v", st)
	}
	for name, verify := range map[string]func([][2]string) ([]bool, error){
		"error": func([][2]string) ([]bool, error) { return nil, errors.New("disk on fire") },
		"short": func([][2]string) ([]bool, error) { return []bool{true}, nil },
	} {
		if _, err := Compute(ids, lists, vecs, 2, Options{Threshold: 0.9, Verify: verify}); err == nil {
			t.Errorf("%s: Compute succeeded", name)
		}
	}
}

func mustCompute(t *testing.T, ids []string, lists [][]neighbors.Neighbor, vecs []float32, opts Options) *Result {
	t.Helper()
	r, err := Compute(ids, lists, vecs, 2, opts)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
