package pipeline

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"
)

// An incremental run's beam searches and deletion repairs read the
// snapshot's vectors at random, one row (5 KB at 1280 dims) here and there.
// When they touch a good part of the file and it is not in the page cache —
// at 1 M products it is 4.8 GiB beside the node's index — each row is a
// random disk read: ≈ 37 MB/s in BENCHMARKS §16, against ≈ 345 MB/s for one
// sequential read of the same file on the same disk. Reading the file once
// from start to end first makes the searches' reads page-cache hits.

// searchRowsPerChange is about how many vector rows one added or removed
// product makes the neighbour update read: a beam search scores some
// hundreds to thousands of rows, a repair the neighbours' neighbours.
const searchRowsPerChange = 1000

// warmBeforeUpdate reports whether the update is likely to touch at least
// an eighth of the rows: random reads of that many cost about what one
// sequential pass over all of them does (the 37 vs 345 MB/s above).
func warmBeforeUpdate(changes, rows int) bool {
	return rows > 0 && changes*searchRowsPerChange >= rows/8
}

// warmChunk is the read size of warmFile: large enough for the disk to
// stream, small enough to stay out of the way of the heap.
const warmChunk = 4 << 20

// warmFile reads path once from start to end so its pages are in the page
// cache (not in this process's resident set: the reads go through a small
// buffer). It stops early, without error, when ctx ends. It returns the bytes
// read.
func warmFile(ctx context.Context, path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	buf := make([]byte, warmChunk)
	var n int64
	for ctx.Err() == nil {
		k, err := f.Read(buf)
		n += int64(k)
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// prepareSnapshotReads readies the snapshot's vectors for the neighbour
// update: when the plan's changes make the update read many rows, it reads
// the file once in order (warmFile); when they are few, it turns the
// mapping's read-ahead off for the update, so each row read costs its own
// pages and not a MiB around them, and the returned func turns it back on
// for the stages that read the rows in order. A snapshot whose lists are
// re-scored (before format 3) reads every row anyway and is left as is.
func prepareSnapshotReads(ctx context.Context, snap *snapshot, p *plan) (undo func()) {
	undo = func() {}
	if snap.vec == nil {
		return undo
	}
	if !warmBeforeUpdate(len(p.added)+len(p.removed), len(snap.ids)) {
		if snap.scored() {
			snap.vec.AdviseRandom(true)
			undo = func() { snap.vec.AdviseRandom(false) }
		}
		return undo
	}
	start := time.Now()
	n, err := warmFile(ctx, filepath.Join(snap.dir, snapVectors))
	if err != nil {
		// Best effort: a failed read only costs the random reads it
		// was meant to save.
		slog.Warn("could not read the snapshot's vectors ahead of the neighbour update", "err", err)
		return undo
	}
	slog.Info("read the snapshot's vectors ahead of the neighbour update", "mib", n>>20, "seconds", time.Since(start).Seconds())
	return undo
}
