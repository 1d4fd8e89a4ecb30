// Package vectors reads the embedding vectors essync embed writes — one
// folder, or several shards of a catalog embedded on different machines — as
// one set: ids, one contiguous memory-mapped float32 matrix, and the model
// that made them, so full and incremental runs can take precomputed vectors
// instead of images and record the right model in the index.
//
// A folder holds vectors.npy (float32 N×D), ids.json (N ids in row order),
// report.json (essync embed's report; its "model" and "dims" name the
// vectors' model fingerprint and length, "shard" which shard it is) and
// digests.bin (DigestsFile: a digest of every row, written by Writer and
// trusted only while vectors.npy keeps the size and mtime it records).
package vectors

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/essync/essync/npy"
)

// File names inside a vectors folder.
const (
	MatrixFile = "vectors.npy"
	IDsFile    = "ids.json"
	MetaFile   = "report.json"
)

// Meta is the part of report.json a vectors folder is described by.
type Meta struct {
	Model string `json:"model"`           // model fingerprint, e.g. "efficientnet-lite0@1a2b3c4d"
	Dims  int    `json:"dims"`            // vector length
	Shard string `json:"shard,omitempty"` // "i/n" when the folder holds one shard of a catalog
}

// Set is the vectors of one or more folders as one matrix: row r of Matrix
// is the vector of IDs[r]. The matrix is memory-mapped (page cache, not
// heap); call Close when done with it.
type Set struct {
	IDs    []string
	Matrix []float32 // len(IDs)×Dims, row-major
	Dims   int
	Model  string // "" when the folders carry no report.json (vectors made elsewhere)
	// Digests holds every row's RowDigest, from the folders' DigestsFile
	// sidecars where they still describe vectors.npy; DigestsComputed
	// names the folders whose digests were computed by reading the rows
	// instead (no sidecar, or vectors.npy changed since it was written).
	Digests         []uint64
	DigestsComputed []string
	mapped          *npy.Mapped
}

// Row returns the vector of row r (a view into the mapping).
func (s *Set) Row(r int) []float32 { return s.Matrix[r*s.Dims : (r+1)*s.Dims] }

// AdviseRandom says the matrix's rows will be read at random, a few of
// them (an incremental run reads only its new and changed rows): without it
// each row read pulls in up to a MiB around it (npy.Mapped.AdviseRandom).
func (s *Set) AdviseRandom() { s.mapped.AdviseRandom(true) }

// WillNeed starts the reads of the given rows at once (npy.Mapped.WillNeed):
// a few thousand rows scattered over a large file come in parallel instead
// of one page fault after another.
func (s *Set) WillNeed(rows []int) { s.mapped.WillNeed(rows) }

// Close releases the mapping; the matrix must not be used afterwards.
func (s *Set) Close() error {
	if s == nil {
		return nil
	}
	s.Matrix = nil
	return s.mapped.Close()
}

// Open reads the folders as one set. With one folder its vectors.npy is
// mapped as it is; with several, their matrices are concatenated into a
// temporary file (in os.TempDir; removed at once, alive while mapped) and
// that is mapped, so the result is still one contiguous matrix off the heap.
// All folders must agree on model and dims, and no id may appear twice.
func Open(dirs ...string) (*Set, error) {
	if len(dirs) == 0 {
		return nil, errors.New("vectors: no folder given")
	}
	if len(dirs) == 1 {
		return openOne(dirs[0])
	}
	tmp, err := os.CreateTemp("", "essync-vectors-*.npy")
	if err != nil {
		return nil, fmt.Errorf("vectors: %w", err)
	}
	defer os.Remove(tmp.Name())
	tmp.Close()
	sh, err := openShards(dirs)
	if err != nil {
		return nil, err
	}
	defer sh.close()
	set := &Set{IDs: sh.ids, Dims: sh.meta.Dims, Model: sh.meta.Model}
	for i, dir := range dirs {
		d, computed, err := folderDigests(dir, sh.parts[i].Rows, sh.parts[i].Cols)
		if err != nil {
			return nil, err
		}
		set.Digests = append(set.Digests, d...)
		if computed {
			set.DigestsComputed = append(set.DigestsComputed, dir)
		}
	}
	if err := sh.writeTo(tmp.Name()); err != nil {
		return nil, err
	}
	m, err := npy.Map(tmp.Name())
	if err != nil {
		return nil, fmt.Errorf("vectors: %w", err)
	}
	set.Matrix, set.mapped = m.Data, m
	return set, nil
}

// Merge combines shard folders into one folder out (created if needed):
// vectors.npy, ids.json and report.json naming the common model and dims,
// rows in the order of dirs. It fails when the shards disagree on model or
// dims or share an id.
func Merge(out string, dirs ...string) error {
	if len(dirs) == 0 {
		return errors.New("vectors: no folder to merge")
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return fmt.Errorf("vectors: %w", err)
	}
	sh, err := openShards(dirs)
	if err != nil {
		return err
	}
	defer sh.close()
	w, err := Create(out, len(sh.ids), sh.meta.Dims)
	if err != nil {
		return err
	}
	for _, m := range sh.parts {
		for r := range m.Rows {
			if err := w.Add(m.Row(r)); err != nil {
				w.Abort()
				return err
			}
		}
	}
	if err := w.Close(); err != nil {
		return err
	}
	meta := sh.meta
	meta.Shard = ""
	if err := writeJSON(filepath.Join(out, IDsFile), sh.ids); err != nil {
		return err
	}
	return writeJSON(filepath.Join(out, MetaFile), meta)
}

// ReadMeta reads dir's report.json; a folder without one gives a zero Meta.
func ReadMeta(dir string) (Meta, error) {
	var m Meta
	raw, err := os.ReadFile(filepath.Join(dir, MetaFile))
	if errors.Is(err, fs.ErrNotExist) {
		return m, nil
	}
	if err != nil {
		return m, fmt.Errorf("vectors: %w", err)
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		return m, fmt.Errorf("vectors: %s: %w", filepath.Join(dir, MetaFile), err)
	}
	return m, nil
}

func openOne(dir string) (*Set, error) {
	meta, err := ReadMeta(dir)
	if err != nil {
		return nil, err
	}
	ids, err := readIDs(dir)
	if err != nil {
		return nil, err
	}
	m, err := npy.Map(filepath.Join(dir, MatrixFile))
	if err != nil {
		return nil, fmt.Errorf("vectors: %w", err)
	}
	if err := check(dir, meta, ids, m.Rows, m.Cols); err != nil {
		m.Close()
		return nil, err
	}
	set := &Set{IDs: ids, Matrix: m.Data, Dims: m.Cols, Model: meta.Model, mapped: m}
	d, computed, err := folderDigests(dir, m.Rows, m.Cols)
	if err != nil {
		m.Close()
		return nil, err
	}
	set.Digests = d
	if computed {
		set.DigestsComputed = []string{dir}
	}
	return set, nil
}

// check compares a folder's parts with each other.
func check(dir string, meta Meta, ids []string, rows, cols int) error {
	if len(ids) != rows {
		return fmt.Errorf("vectors: %s: ids.json has %d ids but vectors.npy has %d rows: they must come from the same embed run", dir, len(ids), rows)
	}
	if meta.Dims != 0 && meta.Dims != cols {
		return fmt.Errorf("vectors: %s: report.json says %d dims but vectors.npy has %d columns", dir, meta.Dims, cols)
	}
	return nil
}

func readIDs(dir string) ([]string, error) {
	path := filepath.Join(dir, IDsFile)
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("vectors: %w", err)
	}
	var ids []string
	if err := json.Unmarshal(raw, &ids); err != nil {
		return nil, fmt.Errorf("vectors: %s: want a JSON array of id strings: %w", path, err)
	}
	return ids, nil
}

// shards is several vectors folders opened as parts of one set: their ids
// in order, their common Meta and their mapped matrices.
type shards struct {
	ids   []string
	meta  Meta
	parts []*npy.Mapped
}

func (s *shards) close() {
	for _, m := range s.parts {
		m.Close()
	}
}

// openShards maps the folders' matrices and checks they agree: same model
// and dims, no id twice.
func openShards(dirs []string) (_ *shards, err error) {
	s := &shards{parts: make([]*npy.Mapped, 0, len(dirs))}
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	seen := map[string]string{} // id → folder
	for i, dir := range dirs {
		meta, err := ReadMeta(dir)
		if err != nil {
			return nil, err
		}
		ids, err := readIDs(dir)
		if err != nil {
			return nil, err
		}
		m, err := npy.Map(filepath.Join(dir, MatrixFile))
		if err != nil {
			return nil, fmt.Errorf("vectors: %w", err)
		}
		s.parts = append(s.parts, m)
		if err := check(dir, meta, ids, m.Rows, m.Cols); err != nil {
			return nil, err
		}
		meta.Dims = m.Cols
		if i == 0 {
			s.meta = meta
		} else if meta.Model != s.meta.Model || meta.Dims != s.meta.Dims {
			return nil, fmt.Errorf("vectors: %s has model %q with %d dims but %s has %q with %d: embed every shard with the same model",
				dir, meta.Model, meta.Dims, dirs[0], s.meta.Model, s.meta.Dims)
		}
		for _, id := range ids {
			if other, dup := seen[id]; dup {
				return nil, fmt.Errorf("vectors: product %q is in both %s and %s: shards must not overlap (use --shard i/n with the same n)", id, other, dir)
			}
			seen[id] = dir
		}
		s.ids = append(s.ids, ids...)
	}
	return s, nil
}

// writeTo writes the parts' matrices, concatenated, to npyPath (a plain
// .npy: the set's digests are the folders').
func (s *shards) writeTo(npyPath string) error {
	f, err := os.Create(npyPath)
	if err != nil {
		return fmt.Errorf("vectors: %w", err)
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	err = npy.WriteHeader(bw, len(s.ids), s.meta.Dims)
	for _, m := range s.parts {
		if err == nil {
			err = npy.WriteValues(bw, m.Data)
		}
	}
	if err == nil {
		err = bw.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("vectors: write %s: %w", npyPath, err)
	}
	return nil
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("vectors: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("vectors: %w", err)
	}
	return os.Rename(tmp, path)
}

// Shard is one part of a catalog split by a stable hash of the product id:
// shard Index (1-based) of Count.
type Shard struct{ Index, Count int }

// ParseShard reads "i/n" (1 ≤ i ≤ n).
func ParseShard(s string) (Shard, error) {
	a, b, ok := strings.Cut(s, "/")
	i, err1 := strconv.Atoi(strings.TrimSpace(a))
	n, err2 := strconv.Atoi(strings.TrimSpace(b))
	if !ok || err1 != nil || err2 != nil || n < 1 || i < 1 || i > n {
		return Shard{}, fmt.Errorf("shard %q: want i/n with 1 ≤ i ≤ n, e.g. 2/4", s)
	}
	return Shard{Index: i, Count: n}, nil
}

// String is "i/n".
func (s Shard) String() string { return fmt.Sprintf("%d/%d", s.Index, s.Count) }

// Has reports whether product id belongs to this shard: FNV-1a (64-bit) of
// the id modulo Count, the same on every machine and Go version.
func (s Shard) Has(id string) bool {
	h := fnv.New64a()
	h.Write([]byte(id))
	return int(h.Sum64()%uint64(s.Count)) == s.Index-1
}
