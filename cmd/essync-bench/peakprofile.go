package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"sync"
	"time"
)

// peakProfiler writes the Go heap profile (in use, by allocation site) each
// time the heap in use grows 5 % past the largest seen so far, so the file
// left at the end shows what the heap held at a measured run's peak — the
// end-of-run allocation profile (--memprofile) cannot tell what was live
// together.
type peakProfiler struct {
	path string
	stop chan struct{}
	done sync.WaitGroup
	peak uint64
	err  error
}

// startPeakProfile samples the heap every 200 ms until Stop; an empty path
// gives a profiler that does nothing.
func startPeakProfile(path string) *peakProfiler {
	p := &peakProfiler{path: path, stop: make(chan struct{})}
	if path == "" {
		return p
	}
	p.done.Add(1)
	go func() {
		defer p.done.Done()
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > p.peak+p.peak/20 {
				p.peak = ms.HeapInuse
				if err := p.write(); err != nil && p.err == nil {
					p.err = err
				}
			}
			select {
			case <-p.stop:
				return
			case <-t.C:
			}
		}
	}()
	return p
}

// write replaces the profile file with the current heap profile.
func (p *peakProfiler) write() error {
	tmp := p.path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("peak profile: %w", err)
	}
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		f.Close()
		return fmt.Errorf("peak profile %s: %w", p.path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("peak profile %s: %w", p.path, err)
	}
	return os.Rename(tmp, p.path)
}

// Stop ends the sampling and returns the heap-in-use peak it profiled and
// the first write error.
func (p *peakProfiler) Stop() (uint64, error) {
	close(p.stop)
	p.done.Wait()
	return p.peak, p.err
}
