package pipeline

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"

	"github.com/essync/essync/npy"
	"github.com/essync/essync/vectors"
)

// snapshotWriter writes a snapshot folder row by row into a temporary
// folder; commit moves it into place. Lists name products by id: when the
// ids are known up front they are resolved at once, otherwise (reading the
// index, where they arrive in any order) they go to a temporary text file
// and are resolved in finish.
type snapshotWriter struct {
	dir     string
	hdr     snapshotHeader
	ids     []string
	row     map[string]int32 // nil until every id is known
	files   []*os.File
	records *bufio.Writer
	lists   *bufio.Writer
	sims    *bufio.Writer
	groups  *bufio.Writer
	vectors *bufio.Writer // nil when the vectors are linked (reuseVectors)
	pending *bufio.Writer // lists as text, one line per row, when row is nil
	recBuf  []byte
	listBuf []byte
	simBuf  []byte
	// vectorsFrom is the vectors.npy this snapshot links (or copies) in
	// finish instead of writing its own: an earlier snapshot's, when no
	// vector changed.
	vectorsFrom string
	nvec        int
	// digests are the vectors' row digests (digests.bin), kept as the
	// vectors are written: 8 bytes a row.
	digests  []uint64
	finished bool
}

// newSnapshotWriter starts a snapshot of hdr.Count rows in a fresh
// temporary folder under stateDir. known, when not nil, are the ids in the
// order the rows will be added.
func newSnapshotWriter(stateDir string, hdr snapshotHeader, known []string) (*snapshotWriter, error) {
	if err := os.MkdirAll(stateDir, 0o755); err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	}
	dir, err := os.MkdirTemp(stateDir, "."+hdr.Alias+".tmp-")
	if err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	}
	hdr.Format = snapshotFormat
	w := &snapshotWriter{dir: dir, hdr: hdr, recBuf: make([]byte, recordSize), listBuf: make([]byte, 4*hdr.K), simBuf: make([]byte, 4*hdr.K)}
	if known != nil {
		w.row = make(map[string]int32, len(known))
		for i, id := range known {
			w.row[id] = int32(i)
		}
	}
	create := func(name string) (*bufio.Writer, error) {
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("state snapshot: %w", err)
		}
		w.files = append(w.files, f)
		return bufio.NewWriterSize(f, 1<<20), nil
	}
	if w.records, err = create(snapRecords); err == nil {
		if w.lists, err = create(snapLists); err == nil {
			if w.sims, err = create(snapSims); err == nil {
				if w.groups, err = create(snapGroups); err == nil {
					if w.vectors, err = create(snapVectors); err == nil && known == nil {
						w.pending, err = create(snapLists + ".txt")
					}
				}
			}
		}
	}
	if err == nil {
		err = npy.WriteHeader(w.vectors, hdr.Count, hdr.Dims)
	}
	if err != nil {
		w.abort()
		return nil, err
	}
	return w, nil
}

// add writes the next row: addVector and addRow in one.
func (w *snapshotWriter) add(id string, r record, vector []float32, list []string) error {
	if err := w.addVector(vector); err != nil {
		return err
	}
	return w.addRow(id, r, list)
}

// addVector writes the next row's vector. The vectors may be written ahead
// of the rows, and mapped (mapVectors) once all are written.
func (w *snapshotWriter) addVector(vector []float32) error {
	if len(vector) != w.hdr.Dims {
		return fmt.Errorf("state snapshot: a vector of %d dims, want %d", len(vector), w.hdr.Dims)
	}
	w.nvec++
	w.digests = append(w.digests, vectors.RowDigest(vector))
	if err := npy.WriteValues(w.vectors, vector); err != nil {
		return fmt.Errorf("state snapshot: %w", err)
	}
	return nil
}

// mapVectors maps vectors.npy once every vector is written: one contiguous
// matrix in row order that costs no heap.
func (w *snapshotWriter) mapVectors() (*npy.Mapped, error) {
	if w.nvec != w.hdr.Count || w.vectors == nil {
		return nil, fmt.Errorf("state snapshot: %d vectors written, %d announced (or they are linked)", w.nvec, w.hdr.Count)
	}
	if err := w.vectors.Flush(); err != nil {
		return nil, fmt.Errorf("state snapshot: %w", err)
	}
	m, err := npy.Map(filepath.Join(w.dir, snapVectors))
	if err != nil {
		return nil, fmt.Errorf("state snapshot: %w", err)
	}
	return m, nil
}

// addRow writes the next row's id, record and neighbour list given by
// ids; its similarities and group size are left zero (a snapshot read from
// the index, whose lists are re-scored when restored).
func (w *snapshotWriter) addRow(id string, r record, list []string) error {
	w.ids = append(w.ids, id)
	r.encode(w.recBuf)
	w.records.Write(w.recBuf)
	clear(w.simBuf)
	w.sims.Write(w.simBuf)
	w.groups.Write(w.simBuf[:4])
	if w.row == nil {
		line, _ := json.Marshal(list) // ids may hold any character
		w.pending.Write(line)
		return w.pending.WriteByte('\n')
	}
	return w.writeList(list)
}

// addScored writes the next row's id, record, neighbour list and group
// size: rows are the neighbours' rows in this snapshot (-1 padded, k long)
// and sims their similarities as the graph holds them (see
// neighbors.ListRows). Only for a writer whose ids were known up front.
func (w *snapshotWriter) addScored(id string, r record, rows []int32, sims []float32, groupSize int) error {
	if w.row == nil || len(rows) != w.hdr.K || len(sims) != w.hdr.K {
		return fmt.Errorf("state snapshot: a list of %d entries (%d similarities) for k=%d, or ids not known up front", len(rows), len(sims), w.hdr.K)
	}
	w.ids = append(w.ids, id)
	r.encode(w.recBuf)
	w.records.Write(w.recBuf)
	for i := range rows {
		binary.LittleEndian.PutUint32(w.listBuf[4*i:], uint32(rows[i]))
		binary.LittleEndian.PutUint32(w.simBuf[4*i:], math.Float32bits(sims[i]))
	}
	w.lists.Write(w.listBuf)
	w.sims.Write(w.simBuf)
	binary.LittleEndian.PutUint32(w.simBuf, uint32(int32(groupSize)))
	_, err := w.groups.Write(w.simBuf[:4])
	return err
}

// reuseVectors makes the snapshot take its vectors from the file src (an
// earlier snapshot's vectors.npy of the same rows, whose row digests are
// digests) instead of writing them: finish links it in, or copies it where
// links are not possible.
func (w *snapshotWriter) reuseVectors(src string, digests []uint64) {
	for i, f := range w.files {
		if filepath.Base(f.Name()) == snapVectors {
			f.Close()
			os.Remove(f.Name())
			w.files = append(w.files[:i], w.files[i+1:]...)
			break
		}
	}
	w.vectors, w.vectorsFrom, w.nvec, w.digests = nil, src, w.hdr.Count, digests
}

// linkVectors puts w.vectorsFrom in the folder as its vectors.npy.
func (w *snapshotWriter) linkVectors() error {
	dst := filepath.Join(w.dir, snapVectors)
	if err := os.Link(w.vectorsFrom, dst); err == nil {
		return nil
	}
	in, err := os.Open(w.vectorsFrom)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func (w *snapshotWriter) writeList(list []string) error {
	_, err := w.lists.Write(w.encodeList(list))
	return err
}

// encodeList renders list as one row of lists.bin (in w.listBuf): the rows
// of its ids, -1 for an unknown id and after its end.
func (w *snapshotWriter) encodeList(list []string) []byte {
	for i := range w.hdr.K {
		j := int32(-1)
		if i < len(list) {
			if r, ok := w.row[list[i]]; ok {
				j = r
			}
		}
		binary.LittleEndian.PutUint32(w.listBuf[4*i:], uint32(j))
	}
	return w.listBuf
}

// finish flushes every file, resolves pending lists and writes the header
// and ids; the folder is then complete but not yet in place.
func (w *snapshotWriter) finish() error {
	if len(w.ids) != w.hdr.Count || w.nvec != w.hdr.Count || len(w.digests) != w.hdr.Count {
		return fmt.Errorf("state snapshot: %d rows, %d vectors and %d digests written, %d announced", len(w.ids), w.nvec, len(w.digests), w.hdr.Count)
	}
	if w.row == nil {
		if err := w.pending.Flush(); err != nil {
			return fmt.Errorf("state snapshot: %w", err)
		}
		w.row = make(map[string]int32, len(w.ids))
		for i, id := range w.ids {
			w.row[id] = int32(i)
		}
		f, err := os.Open(filepath.Join(w.dir, snapLists+".txt"))
		if err != nil {
			return fmt.Errorf("state snapshot: %w", err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<26)
		for sc.Scan() {
			var list []string
			if err := json.Unmarshal(sc.Bytes(), &list); err != nil {
				f.Close()
				return fmt.Errorf("state snapshot: lists: %w", err)
			}
			if err := w.writeList(list); err != nil {
				f.Close()
				return fmt.Errorf("state snapshot: %w", err)
			}
		}
		f.Close()
		if err := sc.Err(); err != nil {
			return fmt.Errorf("state snapshot: %w", err)
		}
	}
	for _, b := range []*bufio.Writer{w.records, w.lists, w.sims, w.groups, w.vectors} {
		if b == nil {
			continue
		}
		if err := b.Flush(); err != nil {
			return fmt.Errorf("state snapshot: %w", err)
		}
	}
	for _, f := range w.files {
		if err := f.Sync(); err != nil {
			return fmt.Errorf("state snapshot: %w", err)
		}
		if err := f.Close(); err != nil {
			return fmt.Errorf("state snapshot: %w", err)
		}
	}
	w.files = nil
	if w.vectorsFrom != "" {
		if err := w.linkVectors(); err != nil {
			return fmt.Errorf("state snapshot: vectors: %w", err)
		}
	}
	if err := writeUint64s(filepath.Join(w.dir, snapDigests), w.digests); err != nil {
		return fmt.Errorf("state snapshot: %w", err)
	}
	os.Remove(filepath.Join(w.dir, snapLists+".txt"))
	ids, _ := json.Marshal(w.ids)
	if err := os.WriteFile(filepath.Join(w.dir, snapIDs), ids, 0o644); err != nil {
		return fmt.Errorf("state snapshot: %w", err)
	}
	hdr, _ := json.MarshalIndent(w.hdr, "", "  ")
	if err := os.WriteFile(filepath.Join(w.dir, snapHeader), append(hdr, '\n'), 0o644); err != nil {
		return fmt.Errorf("state snapshot: %w", err)
	}
	w.finished = true
	return nil
}

// writeUint64s writes vs little-endian to a new file at path, synced.
func writeUint64s(path string, vs []uint64) error {
	b := make([]byte, 8*len(vs))
	for i, v := range vs {
		binary.LittleEndian.PutUint64(b[8*i:], v)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// commit puts the finished folder in place of the alias's snapshot: the
// old one is moved aside, the new one renamed in, the old one removed. A
// crash in between leaves no snapshot (the next run reads the index),
// never a half-written one.
func (w *snapshotWriter) commit(stateDir string) (string, error) {
	if !w.finished {
		if err := w.finish(); err != nil {
			w.abort()
			return "", err
		}
	}
	final := snapshotDir(stateDir, w.hdr.Alias)
	old := w.dir + ".old"
	if err := os.Rename(final, old); err != nil && !os.IsNotExist(err) {
		w.abort()
		return "", fmt.Errorf("state snapshot: %w", err)
	}
	if err := os.Rename(w.dir, final); err != nil {
		w.abort()
		return "", fmt.Errorf("state snapshot: %w", err)
	}
	os.RemoveAll(old)
	return final, nil
}

// abort removes the temporary folder.
func (w *snapshotWriter) abort() {
	if w == nil {
		return
	}
	for _, f := range w.files {
		f.Close()
	}
	w.files = nil
	os.RemoveAll(w.dir)
}

// snapshotDir is the alias's snapshot folder.
func snapshotDir(stateDir, alias string) string {
	return filepath.Join(stateDir, alias)
}

// unixNano is a file's mtime as the snapshot records it.
func unixNano(fi os.FileInfo) int64 { return fi.ModTime().UnixNano() }
