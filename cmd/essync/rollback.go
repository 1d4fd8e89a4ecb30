package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/essync/essync/esindex"
	"github.com/urfave/cli/v2"
)

func rollbackCommand() *cli.Command {
	return &cli.Command{
		Name:  "rollback",
		Usage: "point the alias back at the previous complete index",
		Description: `Moves the alias back to the newest complete index older than the live one
(full keeps --keep of them). Like full and incremental it first takes the
alias's lease, so it never moves the alias while a run loads or prunes.

Exit codes: 0 done; 1 failure (nothing to roll back to, Elasticsearch
unreachable); 2 usage error; 4 another run holds the alias's lease (wait with
--wait-lock, see essync unlock); 130/143 stopped by SIGINT/SIGTERM.`,
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "index", Value: "products", Usage: "the alias to move back"},
			&cli.DurationFlag{Name: "wait-lock", Usage: "wait this long for another run's lease on the alias (0: exit 4 at once)"},
		}, esFlags()...),
		Action: runRollback,
	}
}

func runRollback(c *cli.Context) error {
	cfg := esConfig(c)
	if cfg == nil {
		return cli.Exit("rollback needs --es-url (or ELASTICSEARCH_URL)", exitUsage)
	}
	if c.Duration("wait-lock") < 0 {
		return cli.Exit("--wait-lock must not be negative", exitUsage)
	}
	alias := c.String("index")
	es, err := esindex.NewClient(*cfg)
	if err != nil {
		return cli.Exit(err.Error(), exitFailure)
	}
	ctx, signalled, stop := interruptible(c.Context)
	defer stop()
	index, err := rollbackLeased(ctx, es, alias, c.Duration("wait-lock"))
	switch {
	case err == nil:
		fmt.Fprintf(c.App.Writer, "alias %s now points at %s\n", alias, index)
		return nil
	case signalled() != 0:
		return cli.Exit(fmt.Sprintf("%v; the alias was not moved by this run: %v", context.Cause(ctx), err), signalled())
	case errors.Is(err, esindex.ErrLeaseHeld):
		return cli.Exit(err.Error(), exitLeaseHeld)
	default:
		return cli.Exit(err.Error(), exitFailure)
	}
}

// rollbackLeased moves alias back while holding its lease (waiting up to
// wait for it), so no full or incremental run is loading or pruning meanwhile.
func rollbackLeased(ctx context.Context, es *elasticsearch.Client, alias string, wait time.Duration) (string, error) {
	if _, err := esindex.Ping(ctx, es); err != nil {
		return "", err
	}
	lease, err := esindex.AcquireLease(ctx, es, alias, esindex.LeaseOptions{Command: "essync rollback", Wait: wait})
	if err != nil {
		return "", err
	}
	defer func() {
		if err := lease.Release(ctx); err != nil {
			slog.Warn("could not release the lease; it expires by itself", "alias", alias, "err", err)
		}
	}()
	return esindex.Rollback(ctx, es, alias)
}
