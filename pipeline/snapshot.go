package pipeline

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"

	"github.com/essync/essync/npy"
	"github.com/essync/essync/vectors"
)

// A state snapshot is what the live index holds, kept on this machine so an
// incremental run need not read the index back: one folder per alias under
// the state dir, written atomically at the end of every successful run.
//
//	header.json   alias, concrete index, generation, model, dims, k, count, schema
//	ids.json      the product ids, row order
//	records.bin   per row: image sha256, image size and mtime, digests of the
//	              document (recordSize bytes)
//	lists.bin     per row: k int32 rows of the neighbour list, -1 padded
//	sims.bin      per row: k float32 similarities beside lists.bin's entries,
//	              as the neighbour graph held them (format 3)
//	groups.bin    per row: the offer group's size, int32 (format 3)
//	vectors.npy   the vectors, float32 rows × dims (mapped, never read in)
//	digests.bin   per row: the vector's vectors.RowDigest, uint64 (format 4)
//
// It is trusted only when its index, generation, model, dims, k and schema
// all match the live index's _meta.essync; otherwise the run reads the index.
// Format 2 (schema 4): the lists digest covers the list document's offer
// group too, the group digest group_id only. Format 3 adds sims.bin and
// groups.bin, so an incremental run restores the lists without re-scoring
// them and digests only the lists that can have changed; a format-2
// snapshot is still taken up (its lists re-scored) and written again as
// format 3. Format 4 adds digests.bin, so planning on --vectors compares
// 8 bytes a row instead of reading both matrices; a format-2 or -3 snapshot
// is still taken up (its digests computed once from its vectors) and
// written again as format 4.
const snapshotFormat = 4

// oldSnapshotFormat is the earliest format an incremental run still takes
// up.
const oldSnapshotFormat = 2

// scoredSnapshotFormat is the first format with sims.bin and groups.bin.
const scoredSnapshotFormat = 3

// Snapshot file names.
const (
	snapHeader  = "header.json"
	snapIDs     = "ids.json"
	snapRecords = "records.bin"
	snapLists   = "lists.bin"
	snapSims    = "sims.bin"
	snapGroups  = "groups.bin"
	snapVectors = "vectors.npy"
	snapDigests = "digests.bin"
)

// digestSize is the length of the document digests (truncated sha256).
const digestSize = 16

// digest identifies one part of a document's content.
type digest [digestSize]byte

// recordSize is one row of records.bin: sha256 (32, zero: none), image size
// and mtime in ns (8 + 8, zero: unknown), and the base, lists and group
// digests.
const recordSize = 32 + 8 + 8 + 3*digestSize

// snapshotHeader is header.json.
type snapshotHeader struct {
	Format     int    `json:"format"`
	Alias      string `json:"alias"`
	Index      string `json:"index"`
	Generation int64  `json:"generation"`
	Model      string `json:"model"`
	Dims       int    `json:"dims"`
	K          int    `json:"k"`
	Count      int    `json:"count"`
	Schema     int    `json:"schema_version"`
	WrittenAt  string `json:"written_at"`
	// Recall is the lists' recall@K last measured on a sample, at index
	// generation RecallGeneration (0: none stored). An incremental run
	// in which no list changes reports it instead of measuring again.
	Recall           float64 `json:"recall,omitempty"`
	RecallGeneration int64   `json:"recall_generation,omitempty"`
}

// record is what the snapshot keeps about one document besides its vector
// and list.
type record struct {
	SHA256      string // hex; "" when the document has none (--vectors without images)
	Size, MTime int64  // the image file's stat when it was hashed; 0: unknown
	Base        digest // everything a full write carries but the vector, lists, group and time
	Lists       digest // the list document: similar_pi, similar, group_id and group_size
	Group       digest // the product document's group_id
}

func (r record) encode(b []byte) {
	clear(b[:32])
	hex.Decode(b[:32], []byte(r.SHA256)) // a malformed hash stays zero: it is never trusted
	binary.LittleEndian.PutUint64(b[32:], uint64(r.Size))
	binary.LittleEndian.PutUint64(b[40:], uint64(r.MTime))
	copy(b[48:], r.Base[:])
	copy(b[48+digestSize:], r.Lists[:])
	copy(b[48+2*digestSize:], r.Group[:])
}

func decodeRecord(b []byte) record {
	var r record
	if sha := b[:32]; !allZero(sha) {
		r.SHA256 = hex.EncodeToString(sha)
	}
	r.Size = int64(binary.LittleEndian.Uint64(b[32:]))
	r.MTime = int64(binary.LittleEndian.Uint64(b[40:]))
	copy(r.Base[:], b[48:])
	copy(r.Lists[:], b[48+digestSize:])
	copy(r.Group[:], b[48+2*digestSize:])
	return r
}

func allZero(b []byte) bool {
	for _, x := range b {
		if x != 0 {
			return false
		}
	}
	return true
}

// snapshot is an opened snapshot folder: ids, records and lists on the
// heap (about 180 bytes a product at k=20), vectors mapped.
type snapshot struct {
	dir     string
	hdr     snapshotHeader
	ids     []string
	row     map[string]int32
	records []byte
	lists   []int32
	// sims and groupSizes are sims.bin and groups.bin; nil in a format-2
	// snapshot.
	sims       []float32
	groupSizes []int32
	// digests is every row's vectors.RowDigest: digests.bin, or computed
	// from vectors.npy when the snapshot is older than format 4.
	digests []uint64
	vec     *npy.Mapped
	// temporary: read from the index for this run only; Close deletes it.
	temporary bool
	// orphanLists are list documents the similar index holds for products
	// the product index does not (read from the index only).
	orphanLists []string
}

// errSnapshot marks a snapshot that cannot be used; the message says why.
var errSnapshot = errors.New("state snapshot not usable")

// openSnapshot opens the snapshot in dir and checks its files agree with
// each other; a missing or damaged file is an errSnapshot naming it.
func openSnapshot(dir string) (*snapshot, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s: %s", errSnapshot, dir, fmt.Sprintf(format, args...))
	}
	s := &snapshot{dir: dir}
	b, err := os.ReadFile(filepath.Join(dir, snapHeader))
	if errors.Is(err, os.ErrNotExist) {
		return nil, bad("no snapshot yet")
	}
	if err != nil {
		return nil, bad("%v", err)
	}
	if err := json.Unmarshal(b, &s.hdr); err != nil {
		return nil, bad("%s is damaged: %v", snapHeader, err)
	}
	if s.hdr.Format < oldSnapshotFormat || s.hdr.Format > snapshotFormat {
		return nil, bad("format %d, this essync reads %d to %d", s.hdr.Format, oldSnapshotFormat, snapshotFormat)
	}
	n, k := s.hdr.Count, s.hdr.K
	if b, err = os.ReadFile(filepath.Join(dir, snapIDs)); err != nil {
		return nil, bad("%v", err)
	}
	if err := json.Unmarshal(b, &s.ids); err != nil || len(s.ids) != n {
		return nil, bad("%s is damaged or holds %d ids, header says %d (%v)", snapIDs, len(s.ids), n, err)
	}
	s.row = make(map[string]int32, n)
	for i, id := range s.ids {
		if _, dup := s.row[id]; dup {
			return nil, bad("%s names %q twice", snapIDs, id)
		}
		s.row[id] = int32(i)
	}
	if s.records, err = os.ReadFile(filepath.Join(dir, snapRecords)); err != nil {
		return nil, bad("%v", err)
	}
	if len(s.records) != n*recordSize {
		return nil, bad("%s has %d bytes, want %d", snapRecords, len(s.records), n*recordSize)
	}
	lb, err := os.ReadFile(filepath.Join(dir, snapLists))
	if err != nil {
		return nil, bad("%v", err)
	}
	if len(lb) != n*k*4 {
		return nil, bad("%s has %d bytes, want %d", snapLists, len(lb), n*k*4)
	}
	s.lists = make([]int32, n*k)
	for i := range s.lists {
		j := int32(binary.LittleEndian.Uint32(lb[4*i:]))
		if j < -1 || int(j) >= n {
			return nil, bad("%s names row %d of %d", snapLists, j, n)
		}
		s.lists[i] = j
	}
	if s.hdr.Format >= scoredSnapshotFormat {
		if s.sims, err = readLittleEndian[float32](dir, snapSims, n*k); err != nil {
			return nil, bad("%v", err)
		}
		if s.groupSizes, err = readLittleEndian[int32](dir, snapGroups, n); err != nil {
			return nil, bad("%v", err)
		}
	}
	if s.vec, err = npy.Map(filepath.Join(dir, snapVectors)); err != nil {
		return nil, bad("%v", err)
	}
	if s.vec.Rows != n || s.vec.Cols != s.hdr.Dims {
		s.vec.Close()
		return nil, bad("%s is %d×%d, header says %d×%d", snapVectors, s.vec.Rows, s.vec.Cols, n, s.hdr.Dims)
	}
	if err := s.readDigests(); err != nil {
		s.vec.Close()
		return nil, bad("%v", err)
	}
	return s, nil
}

// readDigests reads digests.bin, or, in a snapshot older than format 4,
// computes the digests from vectors.npy (one read of it, through read
// calls, so the mapping's pages stay out of RSS).
func (s *snapshot) readDigests() error {
	n := s.hdr.Count
	if s.hdr.Format >= 4 {
		var err error
		s.digests, err = readLittleEndian[uint64](s.dir, snapDigests, n)
		return err
	}
	slog.Info("state snapshot of format "+strconv.Itoa(s.hdr.Format)+": computing its vectors' row digests once (one read of its vectors)", "dir", s.dir, "rows", n)
	var err error
	s.digests, err = vectors.FileDigests(filepath.Join(s.dir, snapVectors), n, s.hdr.Dims)
	return err
}

// readLittleEndian reads a file of exactly n little-endian values of T:
// sims.bin, groups.bin and digests.bin.
func readLittleEndian[T float32 | int32 | uint64](dir, name string, n int) ([]T, error) {
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		return nil, err
	}
	out := make([]T, n)
	if want := binary.Size(out); len(b) != want {
		return nil, fmt.Errorf("%s has %d bytes, want %d", name, len(b), want)
	}
	if _, err := binary.Decode(b, binary.LittleEndian, out); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return out, nil
}

// scored tells whether the snapshot's lists may be restored with their
// stored similarities: a format-3 snapshot this machine wrote, not one read
// from the index (whose similarities were rounded for the documents).
func (s *snapshot) scored() bool {
	return s.sims != nil && s.groupSizes != nil && !s.temporary
}

// Close unmaps the vectors; views of them must not be used afterwards.
func (s *snapshot) Close() {
	if s == nil {
		return
	}
	if s.vec != nil {
		s.vec.Close()
		s.vec = nil
	}
	if s.temporary {
		os.RemoveAll(s.dir)
	}
}

func (s *snapshot) record(i int32) record {
	return decodeRecord(s.records[int(i)*recordSize : int(i+1)*recordSize])
}

// vector is row i of the mapped vectors.
func (s *snapshot) vector(i int32) []float32 {
	d := s.hdr.Dims
	return s.vec.Data[int(i)*d : int(i+1)*d : int(i+1)*d]
}

// staleness says why a snapshot does not describe the live index (""
// when it does).
func (h snapshotHeader) staleness(want snapshotHeader, documents int) string {
	switch {
	case h.Alias != want.Alias:
		return fmt.Sprintf("it was written for alias %s", h.Alias)
	case h.Index != want.Index:
		return fmt.Sprintf("it describes index %s, the alias points at %s (a full run or rollback elsewhere)", h.Index, want.Index)
	case h.Generation != want.Generation:
		return fmt.Sprintf("it is of generation %d, the index is at %d (another writer, or a run that stopped before it finished)", h.Generation, want.Generation)
	case h.Model != want.Model || h.Dims != want.Dims:
		return fmt.Sprintf("it holds %d-d vectors of model %s, the index %d-d of %s", h.Dims, h.Model, want.Dims, want.Model)
	case h.K != want.K:
		return fmt.Sprintf("its lists have k=%d, the index k=%d", h.K, want.K)
	case h.Schema != want.Schema:
		return fmt.Sprintf("it is of schema %d, the index of %d", h.Schema, want.Schema)
	case h.Count != documents:
		return fmt.Sprintf("it holds %d products, the index records %d", h.Count, documents)
	}
	return ""
}
