package npy

import (
	"math/rand/v2"
	"os"
	"slices"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

// BenchmarkScatteredRows reads 10 000 rows spread over a large .npy file
// whose page cache is dropped before every read, the way an incremental
// run's planning reads the new and changed rows of a big --vectors folder:
// through the mapping as it comes (the kernel reads ahead around each
// fault), with AdviseRandom + WillNeed (what planVectorChanges does), and
// with concurrent preads instead of the mapping. The file is
// ESSYNC_BENCH_NPY (e.g. a 1 M × 1280 vectors.npy, 4.8 GiB); without it the
// benchmark is skipped: it needs a file far larger than a test fixture.
//
//	ESSYNC_BENCH_NPY=…/vectors.npy go test ./npy -run '^$' -bench ScatteredRows -benchtime 3x
func BenchmarkScatteredRows(b *testing.B) {
	path := os.Getenv("ESSYNC_BENCH_NPY")
	if path == "" {
		b.Skip("ESSYNC_BENCH_NPY names no .npy file")
	}
	m, err := Map(path)
	if err != nil {
		b.Fatal(err)
	}
	rowCount, dims := m.Rows, m.Cols
	m.Close()
	st, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	dataOffset := st.Size() - int64(rowCount)*int64(dims)*4
	rows := rand.New(rand.NewPCG(7, 7)).Perm(rowCount)[:min(10000, rowCount)]
	slices.Sort(rows) // the plan reads them in catalog order
	dst := make([]float32, dims)
	mapped := func(advise bool) func() {
		return func() {
			m, err := Map(path)
			if err != nil {
				b.Fatal(err)
			}
			defer m.Close()
			if advise {
				m.AdviseRandom(true)
				m.WillNeed(rows)
			}
			for _, r := range rows {
				copy(dst, m.Row(r))
			}
		}
	}
	preads := func(workers int) func() {
		return func() {
			f, err := os.Open(path)
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			var wg sync.WaitGroup
			next := make(chan int)
			for range workers {
				wg.Go(func() {
					buf := make([]byte, dims*4)
					for r := range next {
						if _, err := f.ReadAt(buf, dataOffset+int64(r)*int64(dims)*4); err != nil {
							b.Error(err)
						}
					}
				})
			}
			for _, r := range rows {
				next <- r
			}
			close(next)
			wg.Wait()
		}
	}
	for _, mode := range []struct {
		name string
		read func()
	}{
		{"mapping-default", mapped(false)},
		{"mapping-random-willneed", mapped(true)},
		{"pread-1", preads(1)},
		{"pread-32", preads(32)},
	} {
		b.Run(mode.name, func(b *testing.B) {
			for b.Loop() {
				b.StopTimer()
				dropCache(b, path)
				b.StartTimer()
				mode.read()
			}
		})
	}
}

// dropCache asks the kernel to forget path's cached pages (none may be
// mapped at the time), so the next read comes from the disk.
func dropCache(b *testing.B, path string) {
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
		b.Fatal(err)
	}
}
