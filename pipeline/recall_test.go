package pipeline_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/essync/essync/esindex/estest"
	"github.com/essync/essync/pipeline"
)

// storedRecall reads the recall a snapshot's header keeps.
func storedRecall(t *testing.T, dir string) (float64, int64) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "header.json"))
	if err != nil {
		t.Fatal(err)
	}
	var h struct {
		Recall           float64 `json:"recall"`
		RecallGeneration int64   `json:"recall_generation"`
	}
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatal(err)
	}
	return h.Recall, h.RecallGeneration
}

// TestIncrementalRecallMeasuredOrCarried: full stores its recall in the
// snapshot; a run in which no list changes reports it as carried (not
// measured, with the generation it was measured at); a run that changes
// lists measures it and stores it with the generation it leaves; the run
// after carries that one.
func TestIncrementalRecallMeasuredOrCarried(t *testing.T) {
	estest.Client(t)
	before, after, _, _ := catalogVariants(t)
	live := estest.IndexName(t, "recall")
	cfg := e2eConfig(t, live)
	cfg.CatalogPath = before
	full, err := pipeline.Full(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(cfg.StateDir, live)
	if r, gen := storedRecall(t, dir); r != full.Neighbors.Recall || gen != 1 || !full.Neighbors.RecallMeasured {
		t.Fatalf("full: stored recall %v at generation %d, report %+v; want the report's at generation 1", r, gen, full.Neighbors)
	}
	rep := incremental(t, cfg)
	if n := rep.Neighbors; n.RecallMeasured || n.RecallFromGeneration != 1 || n.Recall != full.Neighbors.Recall {
		t.Errorf("no-op run: neighbours %+v, want full's recall carried from generation 1", n)
	}
	if _, waited := rep.StageSeconds["recall"]; waited {
		t.Error("the no-op run waited for a recall pass")
	}
	cfg.CatalogPath = after
	rep = incremental(t, cfg)
	if n := rep.Neighbors; !n.RecallMeasured || n.RecallFromGeneration != 0 || n.Recall != 1 {
		t.Errorf("changed catalog: neighbours %+v, want a measured recall (1: exact lists)", n)
	}
	if r, gen := storedRecall(t, dir); r != 1 || gen != rep.Snapshot.Generation || gen < 2 {
		t.Errorf("stored recall %v at generation %d, want 1 at the run's generation %d", r, gen, rep.Snapshot.Generation)
	}
	generation := rep.Snapshot.Generation
	rep = incremental(t, cfg)
	if n := rep.Neighbors; n.RecallMeasured || n.RecallFromGeneration != generation || rep.Changes.Written != 0 {
		t.Errorf("the run after: neighbours %+v, written %d; want the recall carried from generation %d, nothing written", n, rep.Changes.Written, generation)
	}
}
