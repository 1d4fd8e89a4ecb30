package vectors

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"unsafe"

	"github.com/cespare/xxhash/v2"
)

// DigestsFile is a vectors folder's sidecar: a 64-bit digest of every row
// of vectors.npy, with the size and mtime vectors.npy had when they were
// taken. An incremental run compares these digests with the state
// snapshot's instead of reading both matrices (at a million 1280-d rows,
// two 4.8 GiB files), and reads only the rows whose digest differs.
//
// Layout (little-endian): the 8 bytes digestsMagic, the matrix file's size
// and mtime (ns), the row count, then one uint64 per row.
const DigestsFile = "digests.bin"

// digestsMagic starts a DigestsFile (its last byte is the layout's version).
const digestsMagic = "ESVDIG01"

// digestsHeader is the DigestsFile's length before the first digest.
const digestsHeader = 8 + 3*8

// RowDigest is the digest of one vector row: xxhash64 of its float32
// values as little-endian bytes (the bytes vectors.npy holds; essync runs on
// little-endian machines only, as the mapped matrices already assume). Two
// rows with equal digests are taken as equal: a changed vector whose digest
// happens to be its old one (a chance of 2⁻⁶⁴ per row) would go unnoticed.
func RowDigest(row []float32) uint64 {
	if len(row) == 0 {
		return xxhash.Sum64(nil)
	}
	return xxhash.Sum64(unsafe.Slice((*byte)(unsafe.Pointer(&row[0])), 4*len(row)))
}

// fileStamp is a file's size and mtime (ns), the pair a sidecar is checked
// against, as essync checks image files before trusting a stored hash.
type fileStamp struct{ size, mtime int64 }

func stampOf(path string) (fileStamp, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}, err
	}
	return fileStamp{size: fi.Size(), mtime: fi.ModTime().UnixNano()}, nil
}

// writeDigests writes dir's sidecar for digests of a matrix file stamped
// st, through a temporary file and a rename.
func writeDigests(dir string, st fileStamp, digests []uint64) error {
	path := filepath.Join(dir, DigestsFile)
	tmp := filepath.Join(dir, "."+DigestsFile+".tmp")
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("vectors: %w", err)
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	var b [8]byte
	bw.WriteString(digestsMagic)
	for _, v := range []uint64{uint64(st.size), uint64(st.mtime), uint64(len(digests))} {
		binary.LittleEndian.PutUint64(b[:], v)
		bw.Write(b[:])
	}
	for _, d := range digests {
		binary.LittleEndian.PutUint64(b[:], d)
		bw.Write(b[:])
	}
	err = bw.Flush()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("vectors: write %s: %w", path, err)
	}
	return nil
}

// readDigests reads dir's sidecar and returns its digests when it
// describes the matrix file as it is now (size, mtime and rows); otherwise
// why not.
func readDigests(dir string, rows int) ([]uint64, string) {
	b, err := os.ReadFile(filepath.Join(dir, DigestsFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, "no " + DigestsFile
	}
	if err != nil {
		return nil, err.Error()
	}
	if len(b) < digestsHeader || string(b[:8]) != digestsMagic {
		return nil, DigestsFile + " is damaged or of another version"
	}
	st, err := stampOf(filepath.Join(dir, MatrixFile))
	if err != nil {
		return nil, err.Error()
	}
	size, mtime, n := int64(binary.LittleEndian.Uint64(b[8:])), int64(binary.LittleEndian.Uint64(b[16:])), binary.LittleEndian.Uint64(b[24:])
	switch {
	case size != st.size || mtime != st.mtime:
		return nil, fmt.Sprintf("%s was changed after %s was written (size or mtime differ)", MatrixFile, DigestsFile)
	case n != uint64(rows) || len(b) != digestsHeader+8*rows:
		return nil, fmt.Sprintf("%s holds %d digests for %d rows", DigestsFile, n, rows)
	}
	out := make([]uint64, rows)
	for i := range out {
		out[i] = binary.LittleEndian.Uint64(b[digestsHeader+8*i:])
	}
	return out, ""
}

// FileDigests reads the rows×dims float32 matrix of the .npy file at path
// once, in bounded chunks through read calls (not a mapping: the pages stay
// in the page cache, out of the process's RSS), and returns every row's
// RowDigest.
func FileDigests(path string, rows, dims int) ([]uint64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("vectors: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("vectors: %w", err)
	}
	rowBytes := int64(4 * dims)
	data := int64(rows) * rowBytes
	if fi.Size() < data {
		return nil, fmt.Errorf("vectors: %s has %d bytes, too few for %d×%d float32", path, fi.Size(), rows, dims)
	}
	// The values end the file; the header is what precedes them.
	r := bufio.NewReaderSize(io.NewSectionReader(f, fi.Size()-data, data), 4<<20)
	out := make([]uint64, rows)
	row := make([]float32, dims)
	buf := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(row))), 4*dims)
	for i := range out {
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, fmt.Errorf("vectors: %s row %d: %w", path, i, err)
		}
		out[i] = RowDigest(row)
	}
	return out, nil
}

// folderDigests returns the digests of dir's rows×dims vectors.npy: its
// sidecar's when that still describes the file, else computed by reading
// the rows once (logged; the sidecar is then written for the next run, best
// effort). computed says which.
func folderDigests(dir string, rows, dims int) (digests []uint64, computed bool, err error) {
	if rows == 0 {
		return []uint64{}, false, nil
	}
	d, why := readDigests(dir, rows)
	if d != nil {
		return d, false, nil
	}
	path := filepath.Join(dir, MatrixFile)
	slog.Info("computing the vectors' row digests (one read of the file)", "folder", dir, "rows", rows, "why", why)
	before, err := stampOf(path)
	if err != nil {
		return nil, true, fmt.Errorf("vectors: %w", err)
	}
	if d, err = FileDigests(path, rows, dims); err != nil {
		return nil, true, err
	}
	if after, err := stampOf(path); err == nil && after == before {
		if err := writeDigests(dir, before, d); err != nil {
			slog.Warn("could not keep the row digests beside the vectors; the next run computes them again", "folder", dir, "err", err)
		}
	}
	return d, true, nil
}
