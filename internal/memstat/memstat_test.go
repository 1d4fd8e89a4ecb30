package memstat

import (
	"runtime"
	"testing"
)

var sink []byte

// A section that allocates and touches 64 MiB shows at least that much in
// its peak heap and peak RSS.
func TestWatchSeesAnAllocation(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("VmHWM is Linux's")
	}
	w := Start()
	sink = make([]byte, 64<<20)
	for i := range sink {
		sink[i] = byte(i)
	}
	runtime.GC() // let the sampler run at least once more with the buffer live
	p := w.Stop()
	if p.RSS < 64<<20 {
		t.Errorf("peak RSS %s, want ≥ 64 MiB", MiB(p.RSS))
	}
	if PeakRSS() < p.RSS {
		t.Errorf("PeakRSS %d below the watch's %d", PeakRSS(), p.RSS)
	}
	sink = nil
}

func TestMiB(t *testing.T) {
	for _, c := range []struct {
		in   uint64
		want string
	}{{0, "n/a"}, {1 << 20, "1 MiB"}, {3 << 29, "1536 MiB"}} {
		if got := MiB(c.in); got != c.want {
			t.Errorf("MiB(%d) = %q, want %q", c.in, got, c.want)
		}
	}
}
