package neighbors

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/essync/essync/internal/jsonstr"
)

// JSONWriter writes the old pipeline's nearest_neighbors.json — a JSON array
// of {"similarity", "master_pi", "similar_pi"} rows, each product's
// neighbours most similar first — one product at a time, so lists can be
// streamed to it as they are computed. The file appears (atomically, by
// rename) only when Close succeeds. It is the one writer of that format.
type JSONWriter struct {
	path  string
	tmp   *os.File
	w     *bufio.Writer
	first bool
	buf   []byte
}

// NewJSONWriter starts writing path (its folder is created if needed).
func NewJSONWriter(path string) (*JSONWriter, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".nearest-*.json")
	if err != nil {
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	w := &JSONWriter{path: path, tmp: tmp, w: bufio.NewWriterSize(tmp, 1<<20), first: true}
	w.w.WriteString("[")
	return w, nil
}

// Write adds one product's rows.
func (j *JSONWriter) Write(id string, list []Neighbor) error {
	for _, n := range list {
		b := j.buf[:0]
		if !j.first {
			b = append(b, ',')
		}
		j.first = false
		b = append(b, "\n{\"similarity\":"...)
		b = strconv.AppendFloat(b, float64(n.Similarity), 'f', -1, 32)
		b = append(b, ",\"master_pi\":"...)
		b = jsonstr.Append(b, id)
		b = append(b, ",\"similar_pi\":"...)
		b = jsonstr.Append(b, n.ID)
		b = append(b, '}')
		j.buf = b
		if _, err := j.w.Write(b); err != nil {
			return fmt.Errorf("write %s: %w", j.path, err)
		}
	}
	return nil
}

// Close finishes the array and puts the file in place.
func (j *JSONWriter) Close() error {
	j.w.WriteString("\n]\n")
	err := j.w.Flush()
	if cerr := j.tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(j.tmp.Name(), j.path)
	}
	if err != nil {
		os.Remove(j.tmp.Name())
		return fmt.Errorf("write %s: %w", j.path, err)
	}
	return nil
}

// Abort drops the unfinished file.
func (j *JSONWriter) Abort() {
	j.tmp.Close()
	os.Remove(j.tmp.Name())
}

// WriteJSON writes nearest_neighbors.json for ids, in order, with their
// lists.
func WriteJSON(path string, ids []string, lists func(id string) []Neighbor) error {
	w, err := NewJSONWriter(path)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if err := w.Write(id, lists(id)); err != nil {
			w.Abort()
			return err
		}
	}
	return w.Close()
}
