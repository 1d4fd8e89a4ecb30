package pipeline

import (
	"context"
	"fmt"
	"testing"

	"github.com/essync/essync/benchdata"
	"github.com/essync/essync/neighbors"
)

// TestRecallPass checks the incremental run's recall decisions on an
// approximate graph: a run whose lists changed measures the sample beside
// the later stages; a cancelled pass reports no figure rather than a wrong
// one; a run in which no list changed carries the snapshot's recall; after
// a pending mark the neighbour stage measured it.
func TestRecallPass(t *testing.T) {
	const n, dims = 17000, 8 // above the graph's exact threshold: an approximate graph
	gen := benchdata.NewVectors(dims, 40, 3)
	ids, vecs := make([]string, n), make([]float32, n*dims)
	for i := range ids {
		ids[i] = fmt.Sprintf("r-%05d", i)
		gen.Row(i, vecs[i*dims:(i+1)*dims])
	}
	g, err := neighbors.Build(ids, vecs, dims, neighbors.Options{K: 10, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if g.Exact() {
		t.Fatal("want an approximate graph")
	}
	stored := &snapshot{hdr: snapshotHeader{Recall: 0.97, RecallGeneration: 4}}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name         string
		ctx          context.Context
		changed      bool
		pending      bool
		wantMeasured bool
		wantFrom     int64
		wantNote     bool
		wantStore    [2]float64 // recall and generation the next snapshot keeps (at generation 5)
	}{
		{"lists changed: measured", context.Background(), true, false, true, 0, false, [2]float64{-1, 5}},
		{"lists changed, run cancelled: not measured", cancelled, true, false, false, 0, true, [2]float64{0, 0}},
		{"no list changed: carried", context.Background(), false, false, false, 4, false, [2]float64{0.97, 4}},
		{"pending mark: measured by the rebuild", context.Background(), true, true, true, 0, false, [2]float64{-1, 5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := &Report{StageSeconds: map[string]float64{}}
			rep.Neighbors.Recall = g.Recall() // as updateGraph leaves it after a rebuild
			pass := recallOf(tt.ctx, g, stored, &plan{listsChanged: tt.changed}, tt.pending, rep)
			if (pass != nil) != (tt.changed && !tt.pending) {
				t.Errorf("a pass started: %v, want %v", pass != nil, tt.changed && !tt.pending)
			}
			pass.wait(rep)
			pass.stop(rep) // after wait: nothing more
			nr := rep.Neighbors
			if nr.RecallMeasured != tt.wantMeasured || nr.RecallFromGeneration != tt.wantFrom || (nr.RecallNote != "") != tt.wantNote {
				t.Errorf("report %+v, want measured %v, from generation %d, a note %v", nr, tt.wantMeasured, tt.wantFrom, tt.wantNote)
			}
			if tt.wantMeasured && nr.Recall < 0.8 {
				t.Errorf("measured recall %v, want a real figure", nr.Recall)
			}
			if tt.wantNote && nr.Recall != 0 {
				t.Errorf("a stopped pass reports recall %v, want 0", nr.Recall)
			}
			recall, gen := recallToStore(rep, 5)
			want := tt.wantStore
			if want[0] == -1 {
				want[0] = nr.Recall
			}
			if recall != want[0] || float64(gen) != want[1] {
				t.Errorf("stored (%v, %d), want (%v, %v)", recall, gen, want[0], want[1])
			}
		})
	}
}
