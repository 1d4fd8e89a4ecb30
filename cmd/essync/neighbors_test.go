package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/essync/essync/npy"
)

// writeVectors writes a vectors.npy (+ ids.json when ids is not nil) folder.
func writeVectors(t *testing.T, rows, cols int, data []float32, ids []string) string {
	t.Helper()
	dir := t.TempDir()
	if err := npy.WriteFile(filepath.Join(dir, "vectors.npy"), rows, cols, data); err != nil {
		t.Fatal(err)
	}
	if ids != nil {
		raw, _ := json.Marshal(ids)
		if err := os.WriteFile(filepath.Join(dir, "ids.json"), raw, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestNeighborsCommand(t *testing.T) {
	// red ≈ crimson, blue apart: the old pipeline's rows, most similar first.
	vecs := []float32{1, 0, 0.8, 0.6, 0, 1}
	dir := writeVectors(t, 3, 2, vecs, []string{"red", "crimson", "blue"})
	out := filepath.Join(t.TempDir(), "nearest_neighbors.json")
	if code := run([]string{"essync", "neighbors", "--vectors", dir, "--out", out, "--k", "1"}); code != exitOK {
		t.Fatalf("exit %d", code)
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var rows []map[string]any
	if err := json.Unmarshal(raw, &rows); err != nil {
		t.Fatalf("%s: %v", raw, err)
	}
	want := []map[string]any{
		{"similarity": 0.8, "master_pi": "red", "similar_pi": "crimson"},
		{"similarity": 0.8, "master_pi": "crimson", "similar_pi": "red"},
		{"similarity": 0.6, "master_pi": "blue", "similar_pi": "crimson"},
	}
	if len(rows) != len(want) {
		t.Fatalf("rows %v, want %v", rows, want)
	}
	for i := range want {
		for k, v := range want[i] {
			if rows[i][k] != v {
				t.Fatalf("row %d: %v, want %v", i, rows[i], want[i])
			}
		}
	}

	// Without ids.json, row numbers are the ids.
	bare := writeVectors(t, 3, 2, vecs, nil)
	if code := run([]string{"essync", "neighbors", "--vectors", filepath.Join(bare, "vectors.npy"), "--out", out, "--exact"}); code != exitOK {
		t.Fatalf("npy file without ids: exit %d", code)
	}
}

func TestNeighborsCommandErrors(t *testing.T) {
	good := writeVectors(t, 2, 2, []float32{1, 0, 0, 1}, []string{"a", "b"})
	notUnit := writeVectors(t, 2, 2, []float32{1, 0, 0, 2}, []string{"a", "b"})
	wrongIDs := writeVectors(t, 2, 2, []float32{1, 0, 0, 1}, []string{"a"})
	out := filepath.Join(t.TempDir(), "nn.json")
	tests := []struct {
		name string
		args []string
		want int
	}{
		{"k zero", []string{"--vectors", good, "--out", out, "--k", "0"}, exitUsage},
		{"recall above one", []string{"--vectors", good, "--out", out, "--recall", "1.5"}, exitUsage},
		{"exact and recall", []string{"--vectors", good, "--out", out, "--exact", "--recall", "0.9"}, exitUsage},
		{"missing out", []string{"--vectors", good}, exitUsage},
		{"missing folder", []string{"--vectors", filepath.Join(good, "nope"), "--out", out}, exitFailure},
		{"not unit length", []string{"--vectors", notUnit, "--out", out}, exitFailure},
		{"ids and rows differ", []string{"--vectors", wrongIDs, "--out", out}, exitFailure},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if code := run(append([]string{"essync", "neighbors"}, tt.args...)); code != tt.want {
				t.Fatalf("exit %d, want %d", code, tt.want)
			}
		})
	}
}
