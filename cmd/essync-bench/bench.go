package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
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
		Usage: "benchmark whole pipelines against the real Elasticsearch (bulk, full, incremental, indexopts, knn, listchange)",
		Description: `Whole-pipeline benchmarks. They need a running Elasticsearch (--es-url, default
http://127.0.0.1:9200), generate their data in a temporary folder, print a
report on stdout, and delete every index they created (unless --keep-index).

  essync-bench bulk --n 5000 --dims 1280
      essync's loader (esindex.Bulk, default options) against a raw _bulk
      baseline: the same documents as pre-built NDJSON posted with net/http at
      the best of several batch sizes. Then load time until FinishLoad returns
      for each dense_vector index_options type.

  essync-bench full --n 2000
      N synthetic 800×800 JPEG product photos + catalog, one essync full run
      with the default model: time per stage, images/s, peak RSS and Go heap.

  essync-bench incremental --n 20000 --new 0.01 --deleted 0.005
      full run, then an incremental run after 1% new and 0.5% deleted
      products: wall times and their ratio, documents written versus the
      minimum necessary, and a second incremental run that must write 0.

  essync-bench listchange --n 100000 --share 0.27
      the cost of changing 27% of the similar lists: partial updates of
      schema-2 product documents (vector re-indexed) against list documents
      in the schema-3 similar index; time, merge tail and node CPU.`,
		Subcommands: []*cli.Command{benchBulkCommand(), benchFullCommand(), benchIncrementalCommand(), benchIndexOptsCommand(), benchKNNCommand(), benchListChangeCommand()},
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

// deleteAlias deletes every concrete index pair essync made for alias (and so
// both aliases).
func deleteAlias(ctx context.Context, es *elasticsearch.Client, alias string) error {
	indices, err := esindex.ListIndices(ctx, es, alias)
	if err != nil {
		return err
	}
	var names []string
	for _, m := range indices {
		names = append(names, m.Name)
		if m.Similar != "" {
			names = append(names, m.Similar)
		}
	}
	return deleteIndices(ctx, es, names...)
}

// benchName is a unique, valid index or alias name for one benchmark run.
func benchName(kind string) string {
	return fmt.Sprintf("essync-bench-%s-%d", kind, time.Now().UnixMilli())
}

// stageOrder is the order the pipeline's stages run in, for printing.
var stageOrder = []string{"catalog", "vectors", "read", "plan", "hash", "embed", "neighbors", "groups", "documents", "index", "write"}

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

// benchAction runs a benchmark and turns its error into the exit status
// every benchmark command uses, prefixed with the command's name.
func benchAction(name string, run func(*cli.Context) error) cli.ActionFunc {
	return func(c *cli.Context) error {
		if err := run(c); err != nil {
			return cli.Exit("bench "+name+": "+err.Error(), exitFailure)
		}
		return nil
	}
}
