package npy

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"syscall"
	"unsafe"
)

// Mapped is a float32 matrix in a .npy file, memory-mapped read-only: the
// values live in the page cache, not on the Go heap, so a 5 GB matrix costs
// no heap and no copy, and pages the kernel can drop and re-read as needed.
type Mapped struct {
	Data       []float32 // rows×cols values, row-major; valid until Close
	Rows, Cols int
	mem        []byte
}

// Map opens path, a little-endian float32 C-order .npy matrix (what essync
// embed and numpy.save of a float32 array write), memory-mapped read-only.
// Other dtypes fail with a hint; ReadFile converts them onto the heap.
func Map(path string) (*Mapped, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h, err := readHeader(bufio.NewReaderSize(f, 4096))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if h.descr != "<f4" && h.descr != "|f4" {
		return nil, fmt.Errorf("%s: npy: dtype %s cannot be mapped, only little-endian float32 (<f4): convert with numpy .astype('<f4')", path, h.descr)
	}
	if binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
		return nil, fmt.Errorf("%s: npy: mapping little-endian floats needs a little-endian machine", path)
	}
	if h.dataOffset%4 != 0 {
		return nil, fmt.Errorf("%s: npy: data starts at byte %d, not 4-byte aligned", path, h.dataOffset)
	}
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	n := h.rows * h.cols
	want := int64(h.dataOffset) + 4*int64(n)
	if st.Size() < want {
		return nil, fmt.Errorf("%s: npy: file has %d bytes, its %d×%d float32 matrix needs %d: it is truncated", path, st.Size(), h.rows, h.cols, want)
	}
	m := &Mapped{Rows: h.rows, Cols: h.cols, Data: []float32{}}
	if n == 0 {
		return m, nil
	}
	mem, err := syscall.Mmap(int(f.Fd()), 0, int(want), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("%s: mmap: %w", path, err)
	}
	m.mem = mem
	m.Data = unsafe.Slice((*float32)(unsafe.Pointer(&mem[h.dataOffset])), n)
	return m, nil
}

// Row returns row i (a view into the mapping).
func (m *Mapped) Row(i int) []float32 { return m.Data[i*m.Cols : (i+1)*m.Cols] }

// Close unmaps the matrix; Data must not be used afterwards.
func (m *Mapped) Close() error {
	if m == nil || m.mem == nil {
		return nil
	}
	mem := m.mem
	m.mem, m.Data = nil, nil
	if err := syscall.Munmap(mem); err != nil {
		return errors.Join(errors.New("npy: munmap"), err)
	}
	return nil
}

// AdviseRandom tells the kernel whether rows will be read at random (true)
// or the default way (false). A page fault in a mapping reads ahead around
// it — up to a MiB here — which is right for a pass in row order and ruinous
// for a few scattered rows: 5 000 rows read from a 4.8 GiB file through the
// default mapping read all of it (BENCHMARKS §16). Best effort.
func (m *Mapped) AdviseRandom(random bool) {
	if m == nil || m.mem == nil {
		return
	}
	advice := syscall.MADV_NORMAL
	if random {
		advice = syscall.MADV_RANDOM
	}
	syscall.Madvise(m.mem, advice)
}

// WillNeed asks the kernel to start reading the given rows now, all at
// once, so that the reads which follow find them in the page cache. A disk
// serves many requests in parallel, while page faults taken one after the
// other each wait for their own read (≈ 3.7 ms each on the project's VM,
// BENCHMARKS §16). Best effort.
func (m *Mapped) WillNeed(rows []int) {
	if m == nil || m.mem == nil {
		return
	}
	page := uintptr(os.Getpagesize())
	base := uintptr(unsafe.Pointer(&m.mem[0]))
	for _, r := range rows {
		if r < 0 || r >= m.Rows {
			continue
		}
		start := uintptr(unsafe.Pointer(&m.Data[r*m.Cols])) - base
		end := start + uintptr(m.Cols)*4
		syscall.Madvise(m.mem[start&^(page-1):end], syscall.MADV_WILLNEED)
	}
}
