package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/essync/essync/esindex"
	"github.com/urfave/cli/v2"
)

func unlockCommand() *cli.Command {
	return &cli.Command{
		Name:  "unlock",
		Usage: "break the lease on an alias left by a dead run",
		Description: `Every full, incremental or rollback run holds a lease on its alias (a document
in the essync-leases index) and renews it while it lives; a second run on the
alias waits (--wait-lock) or exits 4. A lease of a killed run expires by itself
after 60 s. unlock deletes it at once: use it only when you know the holder is
dead, because a living holder then fails before it publishes.

A lease whose holder is a live process on this host (same host name, its pid
running, lease not expired) is not broken: unlock exits 4 and says so. Stop
that run instead (Ctrl-C or kill -INT PID releases the lease), or pass --force.
Expired leases and leases of other hosts are broken as asked.`,
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "index", Value: "products", Usage: "the alias whose lease to break"},
			&cli.BoolFlag{Name: "force", Usage: "break the lease even when its holder is a live process on this host"},
		}, esFlags()...),
		Action: runUnlock,
	}
}

// liveHolderError is unlock's refusal to break the lease of a live run.
type liveHolderError struct{ holder esindex.LeaseInfo }

func (e *liveHolderError) Error() string {
	h := e.holder
	return fmt.Sprintf("not breaking the lease on %s: it is held by a live run, %s, and pid %d is running on this host; "+
		"breaking it makes that run fail before it publishes. Stop it (Ctrl-C, or kill -INT %d: it releases the lease), "+
		"or if that pid is not essync, run: essync unlock --force --index %s", h.Alias, h, h.PID, h.PID, h.Alias)
}

func runUnlock(c *cli.Context) error {
	cfg := esConfig(c)
	if cfg == nil {
		return cli.Exit("unlock needs --es-url (or ELASTICSEARCH_URL)", exitUsage)
	}
	alias := c.String("index")
	es, err := esindex.NewClient(*cfg)
	if err != nil {
		return cli.Exit(err.Error(), exitFailure)
	}
	if _, err := esindex.Ping(c.Context, es); err != nil {
		return cli.Exit(err.Error(), exitFailure)
	}
	held, found, err := esindex.BreakLeaseIf(c.Context, es, alias, func(h esindex.LeaseInfo) error {
		if c.Bool("force") || h.Expired(time.Now()) || !h.RunningHere() {
			return nil
		}
		return &liveHolderError{holder: h}
	})
	var live *liveHolderError
	switch {
	case errors.As(err, &live):
		return cli.Exit(err.Error(), exitLeaseHeld)
	case err != nil:
		return cli.Exit(err.Error(), exitFailure)
	case !found:
		fmt.Fprintf(c.App.Writer, "alias %s has no lease; nothing to do\n", alias)
		return nil
	}
	fmt.Fprintf(c.App.Writer, "broke the lease on %s held by %s\n", alias, held)
	return nil
}
