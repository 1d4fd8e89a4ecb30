package pipeline_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/essync/essync/esindex/estest"
	"github.com/essync/essync/pipeline"
)

// snapshotFiles reads every file of a snapshot folder.
func snapshotFiles(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = b
	}
	return out
}

// asFormat2 turns a snapshot folder into what the format-2 essync wrote:
// no similarities, no group sizes, no row digests, format 2 in the header.
func asFormat2(t *testing.T, dir string) {
	t.Helper()
	asFormat(t, dir, 2, "sims.bin", "groups.bin", "digests.bin")
}

// asFormat turns a snapshot folder into one of format, without the files
// named.
func asFormat(t *testing.T, dir string, format int, without ...string) {
	t.Helper()
	for _, f := range without {
		if err := os.Remove(filepath.Join(dir, f)); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, "header.json")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var hdr map[string]any
	if err := json.Unmarshal(b, &hdr); err != nil {
		t.Fatal(err)
	}
	hdr["format"] = format
	if b, err = json.Marshal(hdr); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// takeUpOldSnapshot runs incremental on a snapshot asFormat made older,
// checks that it was taken up, nothing written to the index and the
// snapshot written again as format 4, and returns its files.
func takeUpOldSnapshot(t *testing.T, cfg pipeline.Config, dir string, format int) map[string][]byte {
	t.Helper()
	rep := incremental(t, cfg)
	if s := rep.Snapshot; !s.Used || !s.Written || s.Unchanged || rep.Changes.Written != 0 {
		t.Fatalf("format %d taken up: snapshot %+v, written %d; want it used, nothing written, the snapshot written again", format, s, rep.Changes.Written)
	}
	upgraded := snapshotFiles(t, dir)
	var hdr struct {
		Format int `json:"format"`
	}
	if err := json.Unmarshal(upgraded["header.json"], &hdr); err != nil || hdr.Format != 4 {
		t.Fatalf("upgraded header %s (%v), want format 4", upgraded["header.json"], err)
	}
	return upgraded
}

// TestIncrementalUpgradesAFormat2SnapshotAndRewritesNoneWhenNothingChanged:
// a format-2 snapshot (the similarities not stored) is taken up, its lists
// re-scored, and written again as format 4 although nothing was written to
// the index; the similarities the re-score stored are those full stored. A
// run that then changes nothing writes 0 and leaves the snapshot's files as
// they were (its header's written_at included). Changes after that are
// written from the stored similarities and end as a full run would, and the
// run after them writes nothing.
func TestIncrementalUpgradesAFormat2SnapshotAndRewritesNoneWhenNothingChanged(t *testing.T) {
	es := estest.Client(t)
	ctx := context.Background()
	before, after, _, _ := catalogVariants(t)
	live := estest.IndexName(t, "snapfmt")
	cfg := e2eConfig(t, live)
	cfg.CatalogPath = before
	if _, err := pipeline.Full(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(cfg.StateDir, live)
	byFull := snapshotFiles(t, dir)
	if len(byFull["sims.bin"]) == 0 || len(byFull["groups.bin"]) == 0 {
		t.Fatalf("full wrote no similarities or group sizes: %d, %d bytes", len(byFull["sims.bin"]), len(byFull["groups.bin"]))
	}
	asFormat2(t, dir)

	upgraded := takeUpOldSnapshot(t, cfg, dir, 2)
	for _, f := range []string{"sims.bin", "groups.bin", "lists.bin", "records.bin", "ids.json", "vectors.npy", "digests.bin"} {
		if !bytes.Equal(upgraded[f], byFull[f]) {
			t.Errorf("%s after the re-scoring upgrade differs from full's (%d and %d bytes): the restored similarities are not the re-scored ones", f, len(upgraded[f]), len(byFull[f]))
		}
	}

	rep := incremental(t, cfg)
	if s := rep.Snapshot; !s.Used || s.Written || !s.Unchanged || rep.Changes.Written != 0 || s.Generation != 1 {
		t.Errorf("no-op run: snapshot %+v, written %d; want nothing written and the snapshot left as it was", s, rep.Changes.Written)
	}
	if again := snapshotFiles(t, dir); len(again) != len(upgraded) {
		t.Errorf("the no-op run left files %d, want %d", len(again), len(upgraded))
	} else {
		for f, b := range upgraded {
			if !bytes.Equal(again[f], b) {
				t.Errorf("the no-op run rewrote %s", f)
			}
		}
	}

	cfg.CatalogPath = after
	rep = incremental(t, cfg)
	if s := rep.Snapshot; !s.Used || !s.Written || s.Generation != 2 || rep.Changes.Written == 0 {
		t.Errorf("changed catalog: snapshot %+v, written %d; want writes and a snapshot of generation 2", s, rep.Changes.Written)
	}
	if rep = incremental(t, cfg); rep.Changes.Written != 0 || !rep.Snapshot.Unchanged {
		t.Errorf("the run after the changes wrote %d (snapshot %+v), want 0 and the snapshot left as it was", rep.Changes.Written, rep.Snapshot)
	}
	reference := estest.IndexName(t, "snapfmtref")
	ref := e2eConfig(t, reference)
	ref.CatalogPath = after
	if _, err := pipeline.Full(ctx, ref); err != nil {
		t.Fatal(err)
	}
	assertSameDocuments(t, comparable(t, es, live), comparable(t, es, reference))
}

// TestIncrementalUpgradesAFormat3Snapshot: a format-3 snapshot (no row
// digests: what the essync before digests.bin wrote) is taken up, its
// digests computed from its vectors, and written again as format 4 — the
// digests those a full run writes — although nothing was written to the
// index; the run after it changes and rewrites nothing.
func TestIncrementalUpgradesAFormat3Snapshot(t *testing.T) {
	estest.Client(t)
	before, _, _, _ := catalogVariants(t)
	live := estest.IndexName(t, "snapfmt3")
	cfg := e2eConfig(t, live)
	cfg.CatalogPath = before
	if _, err := pipeline.Full(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(cfg.StateDir, live)
	byFull := snapshotFiles(t, dir)
	if len(byFull["digests.bin"]) == 0 {
		t.Fatalf("full wrote no digests.bin")
	}
	asFormat(t, dir, 3, "digests.bin")
	upgraded := takeUpOldSnapshot(t, cfg, dir, 3)
	for _, f := range []string{"digests.bin", "sims.bin", "lists.bin", "records.bin", "vectors.npy"} {
		if !bytes.Equal(upgraded[f], byFull[f]) {
			t.Errorf("%s after the upgrade differs from full's (%d and %d bytes)", f, len(upgraded[f]), len(byFull[f]))
		}
	}
	if rep := incremental(t, cfg); rep.Changes.Written != 0 || !rep.Snapshot.Unchanged || rep.Snapshot.Written {
		t.Errorf("the run after the upgrade wrote %d (snapshot %+v), want 0 and the snapshot left as it was", rep.Changes.Written, rep.Snapshot)
	}
}
