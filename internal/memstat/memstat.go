// Package memstat reads the process's peak memory, the one place essync's
// commands and benchmarks get it from: peak resident set size from the
// kernel (VmHWM) and, for measured sections, the largest Go heap in use.
package memstat

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// PeakRSS returns the process's peak resident set size in bytes from
// /proc/self/status (VmHWM), or 0 where the kernel does not report it.
func PeakRSS() uint64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(s.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// MiB formats bytes as whole mebibytes ("n/a" for 0, which PeakRSS returns
// where it cannot tell).
func MiB(b uint64) string {
	if b == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20))
}

// Watch follows the process's peak memory during a measured section: peak
// RSS from the kernel (VmHWM, reset at the start where the kernel allows it)
// and the largest Go heap in use, sampled every 50 ms.
type Watch struct {
	stop     chan struct{}
	done     sync.WaitGroup
	peakHeap atomic.Uint64
	resetOK  bool
	// peakAnon and peakFile are the sampler's own (read after done.Wait).
	peakAnon, peakFile uint64
}

// Start begins a Watch; call Stop to end it.
func Start() *Watch {
	m := &Watch{stop: make(chan struct{})}
	// Writing 5 to clear_refs resets VmHWM to the current RSS (Linux ≥ 4.0),
	// so the peak excludes whatever ran before (data generation).
	m.resetOK = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
	m.done.Add(1)
	go func() {
		defer m.done.Done()
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > m.peakHeap.Load() {
				m.peakHeap.Store(ms.HeapInuse)
			}
			anon, file := rssParts()
			m.peakAnon = max(m.peakAnon, anon)
			m.peakFile = max(m.peakFile, file)
			select {
			case <-m.stop:
				return
			case <-t.C:
			}
		}
	}()
	return m
}

// Peak is what a Watch saw.
type Peak struct {
	RSS      uint64 // bytes; VmHWM
	RSSReset bool   // VmHWM was reset at the start (else it covers the whole process)
	Heap     uint64 // bytes; largest sampled HeapInuse
	Sys      uint64 // bytes; memory the Go runtime got from the OS, at the end
	// Anon and File split the resident set (sampled, so their peaks may
	// miss a short spike and need not coincide): anonymous memory (the Go
	// heap, C allocations) and mapped file pages (a --vectors mapping), which
	// are page cache the kernel can reclaim and re-read.
	Anon, File uint64
}

// Stop ends the sampling and returns the peaks.
func (m *Watch) Stop() Peak {
	close(m.stop)
	m.done.Wait()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return Peak{RSS: PeakRSS(), RSSReset: m.resetOK, Heap: m.peakHeap.Load(), Sys: ms.Sys, Anon: m.peakAnon, File: m.peakFile}
}

// rssParts returns the process's resident anonymous and file-backed memory
// in bytes (RssAnon, RssFile of /proc/self/status), or zeros.
func rssParts() (anon, file uint64) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		key, rest, ok := strings.Cut(line, ":")
		if !ok || (key != "RssAnon" && key != "RssFile") {
			continue
		}
		kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		if key == "RssAnon" {
			anon = kb << 10
		} else {
			file = kb << 10
		}
	}
	return anon, file
}
