package main

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/essync/essync/embed"
	"github.com/essync/essync/esindex"
	"github.com/essync/essync/serve"
	"github.com/urfave/cli/v2"
)

func serveCommand() *cli.Command {
	return &cli.Command{
		Name:  "serve",
		Usage: "answer search-by-photo and similar-products requests over HTTP, with a page at /",
		Description: `Serves the JSON API (POST /v1/search, GET /v1/products/{id}/similar),
GET /healthz, GET /metrics (Prometheus), a page at / to try searches, and the
catalog's images from --images. Query photos are embedded with the model given
by --model, which must be the model the alias's index was built with:
/healthz and every search answer 503 with the reason otherwise.
SIGINT/SIGTERM stop accepting connections and let in-flight requests finish.`,
		Flags: append(append([]cli.Flag{
			&cli.StringFlag{Name: "listen", Value: "127.0.0.1:8080", Usage: "address to listen on"},
			&cli.StringFlag{Name: "index", Value: "products", Usage: "the alias to search"},
			&cli.PathFlag{Name: "images", Usage: "folder of the catalog's images, served under /images/ for the page"},
			&cli.Int64Flag{Name: "max-body", Value: 16 << 20, Usage: "largest upload in bytes (larger: 413)"},
			&cli.IntFlag{Name: "queue", Value: 32, Usage: "query photos decoded or waiting for the model at once (more: 429)"},
			&cli.IntFlag{Name: "max-batch", Value: 8, Usage: "most queued query photos per model call"},
			&cli.DurationFlag{Name: "batch-wait", Value: 2 * time.Millisecond, Usage: "longest a model call waits for query photos still being decoded (negative: never)"},
			&cli.DurationFlag{Name: "health-every", Value: 2 * time.Second, Usage: "how often the alias and its model are checked"},
			&cli.DurationFlag{Name: "drain", Value: 30 * time.Second, Usage: "on SIGTERM, how long in-flight requests may take to finish"},
			numCandidatesFlag(),
		}, modelFlags()...), esFlags()...),
		Action: runServe,
	}
}

func runServe(c *cli.Context) error {
	ln, err := net.Listen("tcp", c.String("listen"))
	if err != nil {
		return cli.Exit(fmt.Sprintf("--listen: %v", err), exitUsage)
	}
	defer ln.Close()
	s, closeAll, err := newSearchService(c, c.String("images"))
	if err != nil {
		return err
	}
	defer closeAll()
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	ok, reason := s.Health()
	slog.Info("serving", "addr", "http://"+ln.Addr().String(), "alias", c.String("index"), "model", s.Model(), "healthy", ok, "reason", reason)
	if err := serve.Run(ctx, ln, s, c.Duration("drain")); err != nil {
		return cli.Exit(err.Error(), exitFailure)
	}
	slog.Info("stopped; in-flight requests finished")
	return nil
}

// newSearchService builds the model and the Elasticsearch client from the
// shared flags and starts a serve.Server; search uses it too, so both
// commands embed and query the same way.
func newSearchService(c *cli.Context, imagesDir string) (*serve.Server, func(), error) {
	if nc := c.Int("num-candidates"); nc < 0 || nc > serve.MaxNumCandidates {
		return nil, nil, cli.Exit(fmt.Sprintf("--num-candidates %d: want 0 (the default) up to %d", nc, serve.MaxNumCandidates), exitUsage)
	}
	opts, err := embedOptions(c)
	if err != nil {
		return nil, nil, cli.Exit(err.Error(), exitUsage)
	}
	opts.CachePath = "" // query photos are not cached, and a sync may hold the cache file
	card, err := embed.LoadCardOrDefault(c.Path("model"))
	if err != nil {
		return nil, nil, cli.Exit(err.Error(), exitUsage)
	}
	emb, err := embed.New(card, opts)
	if err != nil {
		return nil, nil, cli.Exit(err.Error(), exitFailure)
	}
	cfg := esConfig(c)
	if cfg == nil {
		cfg = &esindex.Config{} // the default local node
	}
	cfg.IdleConnsPerHost = max(64, 2*c.Int("queue")) // pooled: concurrent searches reuse connections
	es, err := esindex.NewClient(*cfg)
	if err != nil {
		emb.Close()
		return nil, nil, cli.Exit(err.Error(), exitFailure)
	}
	s, err := serve.New(serve.Config{
		ES: es, Alias: c.String("index"), Embedder: emb, ImagesDir: imagesDir,
		// Flags a command does not define read as zero: the serve package's defaults.
		MaxBodyBytes: c.Int64("max-body"), QueueSize: c.Int("queue"), MaxBatch: c.Int("max-batch"),
		BatchWait: c.Duration("batch-wait"),
		ESTimeout: searchTimeout(c), HealthEvery: c.Duration("health-every"),
		NumCandidates: c.Int("num-candidates"),
	})
	if err != nil {
		emb.Close()
		return nil, nil, cli.Exit(err.Error(), exitUsage)
	}
	return s, func() {
		s.Close()
		if err := emb.Close(); err != nil {
			slog.Warn("closing the model failed", "err", err)
		}
	}, nil
}

// numCandidatesFlag is --num-candidates of serve and search: how many
// candidates each kNN query gathers per shard. The default suits catalogs up
// to a few 100 000 products; larger ones need more for the same recall.
func numCandidatesFlag() cli.Flag {
	return &cli.IntFlag{Name: "num-candidates", EnvVars: []string{"ESSYNC_NUM_CANDIDATES"},
		Usage: fmt.Sprintf("kNN num_candidates of every search (0: max(10·k, 100); at 1 M products and more 500–1000, see docs/SCALING.md; at most %d)", serve.MaxNumCandidates)}
}

// searchTimeout is the deadline of each Elasticsearch call of serve and
// search: --es-timeout when given (flag or ESSYNC_ES_TIMEOUT), else 0, the
// serve package's default (5 s), shorter than a sync's 30 s because a
// visitor is waiting. --es-timeout is the shared connection flag; serve once
// declared its own too, and urfave/cli panicked on the duplicate.
func searchTimeout(c *cli.Context) time.Duration {
	if c.IsSet("es-timeout") {
		return c.Duration("es-timeout")
	}
	return 0
}
