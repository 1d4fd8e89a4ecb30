package vectors

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"

	"github.com/essync/essync/npy"
)

// Writer streams rows into a vectors folder's vectors.npy and keeps their
// digests, so the folder gets its DigestsFile sidecar without a second
// read of the matrix. The matrix is written to a temporary file and renamed
// into place by Close, so a crash never leaves a half-written vectors.npy;
// ids.json and report.json are the caller's (WriteJSON). Every writer of a
// vectors folder (essync embed, Merge, the benchmarks) goes through it.
type Writer struct {
	dir        string
	tmp        string
	f          *os.File
	bw         *bufio.Writer
	rows, dims int
	digests    []uint64
}

// Create starts a vectors.npy of rows×dims float32 in dir (created if
// needed).
func Create(dir string, rows, dims int) (*Writer, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("vectors: %w", err)
	}
	tmp := filepath.Join(dir, "."+MatrixFile+".tmp")
	f, err := os.Create(tmp)
	if err != nil {
		return nil, fmt.Errorf("vectors: %w", err)
	}
	w := &Writer{dir: dir, tmp: tmp, f: f, bw: bufio.NewWriterSize(f, 1<<20), rows: rows, dims: dims, digests: make([]uint64, 0, rows)}
	if err := npy.WriteHeader(w.bw, rows, dims); err != nil {
		w.Abort()
		return nil, fmt.Errorf("vectors: write %s: %w", tmp, err)
	}
	return w, nil
}

// Add writes the next row (dims values).
func (w *Writer) Add(row []float32) error {
	if len(row) != w.dims {
		return fmt.Errorf("vectors: a row of %d values, want %d", len(row), w.dims)
	}
	if len(w.digests) == w.rows {
		return fmt.Errorf("vectors: more than the %d rows announced", w.rows)
	}
	if err := npy.WriteValues(w.bw, row); err != nil {
		return fmt.Errorf("vectors: write %s: %w", w.tmp, err)
	}
	w.digests = append(w.digests, RowDigest(row))
	return nil
}

// Close finishes vectors.npy (every announced row must have been added),
// puts it in place and writes the sidecar stamped with its size and mtime
// after that. The old sidecar is removed first: a crash in between leaves
// none, and the next reader computes the digests.
func (w *Writer) Close() error {
	if len(w.digests) != w.rows {
		w.Abort()
		return fmt.Errorf("vectors: %d rows written, %d announced", len(w.digests), w.rows)
	}
	err := w.bw.Flush()
	if err == nil {
		err = w.f.Sync()
	}
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	w.f = nil
	final := filepath.Join(w.dir, MatrixFile)
	if err == nil {
		if err = os.Remove(filepath.Join(w.dir, DigestsFile)); os.IsNotExist(err) {
			err = nil
		}
	}
	if err == nil {
		err = os.Rename(w.tmp, final)
	}
	if err != nil {
		w.Abort()
		return fmt.Errorf("vectors: write %s: %w", final, err)
	}
	st, err := stampOf(final)
	if err != nil {
		return fmt.Errorf("vectors: %w", err)
	}
	return writeDigests(w.dir, st, w.digests)
}

// Abort drops the unfinished file; vectors.npy in place is left as it was.
func (w *Writer) Abort() {
	if w.f != nil {
		w.f.Close()
		w.f = nil
	}
	os.Remove(w.tmp)
}

// WriteJSON writes v as dir/name (ids.json, report.json) through a
// temporary file and a rename.
func WriteJSON(dir, name string, v any) error {
	return writeJSON(filepath.Join(dir, name), v)
}
