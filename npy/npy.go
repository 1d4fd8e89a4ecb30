// Package npy reads and writes two-dimensional float32 matrices in numpy's
// .npy format (version 1.0, little-endian, C order), so vectors made by essync
// load anywhere (numpy.load) and vectors made elsewhere load into essync.
package npy

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"
)

var magic = []byte("\x93NUMPY")

// WriteFloat32 writes data as a rows×cols little-endian float32 C-order matrix.
func WriteFloat32(w io.Writer, rows, cols int, data []float32) error {
	if rows < 0 || cols < 0 || len(data) != rows*cols {
		return fmt.Errorf("npy: %d values do not fill a %d×%d matrix", len(data), rows, cols)
	}
	bw := bufio.NewWriterSize(w, 1<<16)
	if err := WriteHeader(bw, rows, cols); err != nil {
		return err
	}
	if err := WriteValues(bw, data); err != nil {
		return err
	}
	return bw.Flush()
}

// WriteHeader writes the header of a rows×cols float32 C-order matrix; the
// values follow with WriteValues, row after row, so a matrix can be written
// in pieces (shards concatenated, rows as they are produced).
func WriteHeader(w io.Writer, rows, cols int) error {
	if rows < 0 || cols < 0 {
		return fmt.Errorf("npy: bad shape %d×%d", rows, cols)
	}
	header := fmt.Sprintf("{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d), }", rows, cols)
	// Pad so that magic(6)+version(2)+len(2)+header+'\n' is a multiple of 64.
	total := 10 + len(header) + 1
	if pad := (64 - total%64) % 64; pad > 0 {
		header += strings.Repeat(" ", pad)
	}
	header += "\n"
	if len(header) > math.MaxUint16 {
		return errors.New("npy: header too long")
	}
	var pre [10]byte
	copy(pre[:], magic)
	pre[6], pre[7] = 1, 0
	binary.LittleEndian.PutUint16(pre[8:], uint16(len(header)))
	if _, err := w.Write(pre[:]); err != nil {
		return err
	}
	_, err := io.WriteString(w, header)
	return err
}

// WriteValues writes float32 values little-endian, after WriteHeader.
func WriteValues(w io.Writer, data []float32) error {
	buf := make([]byte, 4*min(len(data), 16384))
	for len(data) > 0 {
		n := min(len(data), len(buf)/4)
		for i, v := range data[:n] {
			binary.LittleEndian.PutUint32(buf[4*i:], math.Float32bits(v))
		}
		if _, err := w.Write(buf[:4*n]); err != nil {
			return err
		}
		data = data[n:]
	}
	return nil
}

var (
	descrRe   = regexp.MustCompile(`'descr'\s*:\s*'([^']*)'`)
	fortranRe = regexp.MustCompile(`'fortran_order'\s*:\s*(True|False)`)
	shapeRe   = regexp.MustCompile(`'shape'\s*:\s*\(([^)]*)\)`)
)

// npyHeader is what a .npy header says about the array.
type npyHeader struct {
	descr      string // dtype, e.g. "<f4"
	rows, cols int
	dataOffset int // bytes from the file start to the first value
}

// readHeader reads the magic, version and header dictionary from br.
func readHeader(br io.Reader) (npyHeader, error) {
	var h npyHeader
	pre := make([]byte, 8)
	if _, err := io.ReadFull(br, pre); err != nil {
		return h, fmt.Errorf("npy: read magic: %w", err)
	}
	if !bytes.Equal(pre[:6], magic) {
		return h, errors.New("npy: not a .npy file (bad magic)")
	}
	var hlen int
	switch pre[6] {
	case 1:
		var n uint16
		if err := binary.Read(br, binary.LittleEndian, &n); err != nil {
			return h, fmt.Errorf("npy: read header length: %w", err)
		}
		hlen, h.dataOffset = int(n), 10+int(n)
	case 2, 3:
		var n uint32
		if err := binary.Read(br, binary.LittleEndian, &n); err != nil {
			return h, fmt.Errorf("npy: read header length: %w", err)
		}
		hlen, h.dataOffset = int(n), 12+int(n)
	default:
		return h, fmt.Errorf("npy: unsupported format version %d", pre[6])
	}
	if hlen > 1<<20 {
		return h, fmt.Errorf("npy: header of %d bytes is implausible", hlen)
	}
	hdr := make([]byte, hlen)
	if _, err := io.ReadFull(br, hdr); err != nil {
		return h, fmt.Errorf("npy: read npyHeader: %w", err)
	}
	text := string(hdr)
	d := descrRe.FindStringSubmatch(text)
	if d == nil {
		return h, errors.New("npy: header has no descr")
	}
	h.descr = d[1]
	if f := fortranRe.FindStringSubmatch(text); f == nil || f[1] != "False" {
		return h, errors.New("npy: only C-order arrays are supported (save with numpy.ascontiguousarray)")
	}
	sh := shapeRe.FindStringSubmatch(text)
	if sh == nil {
		return h, errors.New("npy: header has no shape")
	}
	var dims []int
	for _, part := range strings.Split(sh[1], ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		n, err := strconv.Atoi(part)
		if err != nil || n < 0 {
			return h, fmt.Errorf("npy: bad shape %q", sh[1])
		}
		dims = append(dims, n)
	}
	switch len(dims) {
	case 1:
		h.rows, h.cols = 1, dims[0]
	case 2:
		h.rows, h.cols = dims[0], dims[1]
	default:
		return h, fmt.Errorf("npy: need a 2-D matrix, got shape (%s)", sh[1])
	}
	if h.cols > 0 && h.rows > math.MaxInt/8/h.cols {
		return h, fmt.Errorf("npy: shape %d×%d too large", h.rows, h.cols)
	}
	return h, nil
}

// ReadFloat32 reads a 2-D float32 (or float64, converted) C-order matrix.
// A 1-D array is read as a single row.
func ReadFloat32(r io.Reader) (data []float32, rows, cols int, err error) {
	br := bufio.NewReaderSize(r, 1<<16)
	h, err := readHeader(br)
	if err != nil {
		return nil, 0, 0, err
	}
	rows, cols = h.rows, h.cols
	n := rows * cols
	var order binary.ByteOrder
	var size int
	switch h.descr {
	case "<f4", "|f4":
		order, size = binary.LittleEndian, 4
	case ">f4":
		order, size = binary.BigEndian, 4
	case "<f8":
		order, size = binary.LittleEndian, 8
	case ">f8":
		order, size = binary.BigEndian, 8
	default:
		return nil, 0, 0, fmt.Errorf("npy: dtype %s is not supported; save as float32", h.descr)
	}
	data = make([]float32, n)
	buf := make([]byte, size*4096)
	for i := 0; i < n; {
		chunk := min(4096, n-i)
		b := buf[:chunk*size]
		if _, err := io.ReadFull(br, b); err != nil {
			return nil, 0, 0, fmt.Errorf("npy: data ends after %d of %d values: %w", i, n, err)
		}
		for j := 0; j < chunk; j++ {
			if size == 4 {
				data[i+j] = math.Float32frombits(order.Uint32(b[j*4:]))
			} else {
				data[i+j] = float32(math.Float64frombits(order.Uint64(b[j*8:])))
			}
		}
		i += chunk
	}
	return data, rows, cols, nil
}

// ReadFile is ReadFloat32 on a named file, with the name in errors.
func ReadFile(path string) (data []float32, rows, cols int, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, 0, err
	}
	defer f.Close()
	data, rows, cols, err = ReadFloat32(f)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("%s: %w", path, err)
	}
	return data, rows, cols, nil
}

// WriteFile is WriteFloat32 to a named file, written atomically (temp + rename).
func WriteFile(path string, rows, cols int, data []float32) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if err := WriteFloat32(f, rows, cols, data); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, path)
}
