package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/essync/essync/esindex"
	"github.com/urfave/cli/v2"
)

// benchCommand groups the whole-pipeline benchmarks. Each one measures essync
// against a baseline run in the same process, on the same node, so the ratio
// means something even on a busy machine where absolute numbers wander.
func benchCommand() *cli.Command {
	return &cli.Command{
		Name:  "bench",
		Usage: "benchmark whole pipelines against the real Elasticsearch (bulk, full, incremental)",
		Description: `Whole-pipeline benchmarks. They need a running Elasticsearch (--es-url, default
http://127.0.0.1:9200), generate their data in a temporary folder, print a
report on stdout, and delete every index they created (unless --keep-index).

  essync bench bulk --n 5000 --dims 1280
      essync's loader (esindex.Bulk, default options) against a raw _bulk
      baseline: the same documents as pre-built NDJSON posted with net/http at
      the best of several batch sizes. Then load time until FinishLoad returns
      for each dense_vector index_options type.

  essync bench full --n 2000
      N synthetic 800×800 JPEG product photos + catalog, one essync full run
      with the default model: time per stage, images/s, peak RSS and Go heap.

  essync bench incremental --n 20000 --new 0.01 --deleted 0.005
      full run, then an incremental run after 1% new and 0.5% deleted
      products: wall times and their ratio, documents written versus the
      minimum necessary, and a second incremental run that must write 0.`,
		Subcommands: []*cli.Command{benchBulkCommand(), benchFullCommand(), benchIncrementalCommand()},
	}
}

// benchESFlags are the connection flags plus --keep-index.
func benchESFlags() []cli.Flag {
	return append([]cli.Flag{
		&cli.BoolFlag{Name: "keep-index", Usage: "leave the benchmark's indices and aliases in Elasticsearch"},
	}, esFlags()...)
}

// benchClient connects to --es-url (default: the local node) and checks it answers.
func benchClient(c *cli.Context) (*elasticsearch.Client, esindex.Config, error) {
	cfg := esConfig(c)
	if cfg == nil {
		cfg = &esindex.Config{URLs: []string{"http://127.0.0.1:9200"}}
	}
	es, err := esindex.NewClient(*cfg)
	if err != nil {
		return nil, *cfg, err
	}
	version, err := esindex.Ping(c.Context, es)
	if err != nil {
		return nil, *cfg, fmt.Errorf("%s: %w (start a node with scripts/es-node start)", cfg, err)
	}
	slog.Info("elasticsearch", "version", version, "config", cfg.String())
	return es, *cfg, nil
}

// deleteIndices deletes the named indices, ignoring ones already gone.
func deleteIndices(ctx context.Context, es *elasticsearch.Client, names ...string) error {
	if len(names) == 0 {
		return nil
	}
	res, err := es.Indices.Delete(names, es.Indices.Delete.WithContext(ctx), es.Indices.Delete.WithIgnoreUnavailable(true))
	if err != nil {
		return fmt.Errorf("delete %v: %w", names, err)
	}
	defer res.Body.Close()
	if res.IsError() {
		b, _ := io.ReadAll(res.Body)
		return fmt.Errorf("delete %v: %s %s", names, res.Status(), b)
	}
	return nil
}

// deleteAlias deletes every concrete index essync made for alias (and so the alias).
func deleteAlias(ctx context.Context, es *elasticsearch.Client, alias string) error {
	indices, err := esindex.ListIndices(ctx, es, alias)
	if err != nil {
		return err
	}
	names := make([]string, len(indices))
	for i, m := range indices {
		names[i] = m.Name
	}
	return deleteIndices(ctx, es, names...)
}

// benchName is a unique, valid index or alias name for one benchmark run.
func benchName(kind string) string {
	return fmt.Sprintf("essync-bench-%s-%d", kind, time.Now().UnixMilli())
}

// memWatch follows the process's peak memory during a measured section:
// peak RSS from the kernel (VmHWM, reset at the start where the kernel
// allows it) and the largest Go heap in use, sampled every 50 ms.
type memWatch struct {
	stop     chan struct{}
	done     sync.WaitGroup
	peakHeap atomic.Uint64
	resetOK  bool
}

// watchMemory starts a memWatch; call Stop to end it.
func watchMemory() *memWatch {
	m := &memWatch{stop: make(chan struct{})}
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
			select {
			case <-m.stop:
				return
			case <-t.C:
			}
		}
	}()
	return m
}

// memPeak is what a memWatch saw.
type memPeak struct {
	RSS      uint64 // bytes; VmHWM
	RSSReset bool   // VmHWM was reset at the start (else it covers the whole process)
	Heap     uint64 // bytes; largest sampled HeapInuse
	Sys      uint64 // bytes; memory the Go runtime got from the OS, at the end
}

// Stop ends the sampling and returns the peaks.
func (m *memWatch) Stop() memPeak {
	close(m.stop)
	m.done.Wait()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return memPeak{RSS: vmHWM(), RSSReset: m.resetOK, Heap: m.peakHeap.Load(), Sys: ms.Sys}
}

// vmHWM returns the peak resident set size from /proc/self/status (0 if unknown).
func vmHWM() uint64 {
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

func mib(b uint64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }

// stageOrder is the order the pipeline's stages run in, for printing.
var stageOrder = []string{"catalog", "read", "hash", "embed", "neighbors", "documents", "index", "write"}

// printStages writes one line per stage that ran, in pipeline order.
func printStages(w io.Writer, stages map[string]float64) {
	for _, s := range stageOrder {
		if v, ok := stages[s]; ok {
			fmt.Fprintf(w, "  %-10s %8.2f s\n", s, v)
		}
	}
	for s, v := range stages {
		if !strings.Contains(strings.Join(stageOrder, " "), s) {
			fmt.Fprintf(w, "  %-10s %8.2f s\n", s, v)
		}
	}
}

// loadAverage is the first three fields of /proc/loadavg: how busy the
// machine was, which the benchmark reports next to its numbers.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	return strings.Join(f[:min(3, len(f))], " ")
}
