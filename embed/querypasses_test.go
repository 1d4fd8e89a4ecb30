package embed

import (
	"os"
	"path/filepath"
	"testing"
)

// TestQueryPassesGiveInferQueriesVectors runs queries pass by pass (Start,
// RunPasses, Advance) with their starts staggered, so one model call holds
// first passes of some queries and crop passes of others (and, with a
// 128 px localisation pass, two sizes): every query must end with the
// vector InferQueries gives it, and the focus step must have cropped some.
func TestQueryPassesGiveInferQueriesVectors(t *testing.T) {
	card := defaultCard(t)
	var files []string
	for _, im := range loadEvalSet(t) {
		if im.variant == "orig" || im.variant == "white" || im.variant == "paste1" {
			files = append(files, im.file)
		}
		if len(files) == 6 {
			break
		}
	}
	locate := *card
	locate.LocateSize, locate.CropSize = 128, 0 // locate_size and crop_size do not mix
	two := *card
	two.FocusSteps = 2
	for _, tc := range []struct {
		name      string
		card      *Card
		wantPass3 bool
	}{{"default", card, false}, {"locate 128", &locate, false}, {"two steps", &two, true}} {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestEmbedder(t, tc.card, Options{IntraOpThreads: 2, BatchSize: 4})
			queries := make([]Query, len(files))
			for i, f := range files {
				data, err := os.ReadFile(filepath.Join(testdata, "eval", "images", f))
				if err != nil {
					t.Fatal(err)
				}
				if queries[i], err = e.Prepare(f, data); err != nil {
					t.Fatal(err)
				}
			}
			want, wantErrs, err := e.InferQueries(queries)
			if err != nil {
				t.Fatal(err)
			}
			states := make([]*QueryPasses, len(queries))
			pending := make([]*Pass, len(queries)) // the pass each query waits for, nil when none
			maxPasses := 0
			for round := 0; round < 10; round++ {
				var batch []Pass
				var who []int
				for i := range queries {
					if states[i] == nil && i%2 == round { // odd queries start one round late
						s, p := e.Start(queries[i])
						states[i], pending[i] = s, &p
					}
					if pending[i] != nil {
						batch, who = append(batch, *pending[i]), append(who, i)
					}
				}
				if len(batch) == 0 && round > 1 {
					break
				}
				res, err := e.RunPasses(batch)
				if err != nil {
					t.Fatal(err)
				}
				for k, i := range who {
					next, more := e.Advance(states[i], res[k])
					pending[i] = nil
					if more {
						pending[i] = &next
					}
				}
			}
			for i, s := range states {
				got, err := s.Result()
				if err != nil || wantErrs[i] != nil {
					t.Fatalf("%s: passes err %v, InferQueries err %v", files[i], err, wantErrs[i])
				}
				if d := maxDiff(got, want[i]); d > 1e-4 {
					t.Errorf("%s: pass by pass differs from InferQueries by %g (%d passes)", files[i], d, s.Passes())
				}
				maxPasses = max(maxPasses, s.Passes())
			}
			if maxPasses < 2 {
				t.Fatal("no query had a focus pass: the test proves nothing")
			}
			if tc.wantPass3 && maxPasses < 3 {
				t.Error("two focus steps but no query had a third pass")
			}
		})
	}
}
