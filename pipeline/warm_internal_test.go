package pipeline

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

func TestWarmBeforeUpdate(t *testing.T) {
	for _, tc := range []struct {
		changes, rows int
		want          bool
	}{
		{0, 1_000_000, false},
		{10, 1_000_000, false},    // ≈ 10 000 rows: 1 % of the file
		{124, 1_000_000, false},   // just under an eighth
		{125, 1_000_000, true},    // an eighth
		{15_000, 1_000_000, true}, // the 1 M benchmark: 1 % new, 0.5 % deleted
		{1, 100, true},            // small catalogs: always (and cheap)
		{0, 0, false},
	} {
		if got := warmBeforeUpdate(tc.changes, tc.rows); got != tc.want {
			t.Errorf("warmBeforeUpdate(%d, %d) = %v, want %v", tc.changes, tc.rows, got, tc.want)
		}
	}
}

func TestWarmFileReadsToTheEndOrStopsWithItsContext(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vectors.npy")
	size := 3*warmChunk + 1234
	if err := os.WriteFile(path, make([]byte, size), 0o644); err != nil {
		t.Fatal(err)
	}
	n, err := warmFile(context.Background(), path)
	if err != nil || n != int64(size) {
		t.Fatalf("warmFile = %d, %v; want %d, nil", n, err, size)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if n, err := warmFile(ctx, path); err != nil || n != 0 {
		t.Errorf("cancelled warmFile = %d, %v; want 0, nil", n, err)
	}
	if _, err := warmFile(context.Background(), filepath.Join(t.TempDir(), "missing.npy")); err == nil {
		t.Error("warmFile of a missing file: no error")
	}
}
