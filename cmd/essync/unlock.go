package main

import (
	"fmt"

	"github.com/essync/essync/esindex"
	"github.com/urfave/cli/v2"
)

func unlockCommand() *cli.Command {
	return &cli.Command{
		Name:  "unlock",
		Usage: "break the lease on an alias left by a dead run",
		Description: `Every full or incremental run holds a lease on its alias (a document in the
essync-leases index) and renews it while it lives; a second run on the alias
waits (--wait-lock) or exits 4. A lease of a killed run expires by itself after
60 s. unlock deletes it at once: use it only when you know the holder is dead,
because a living holder then fails before it publishes.`,
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "index", Value: "products", Usage: "the alias whose lease to break"},
		}, esFlags()...),
		Action: func(c *cli.Context) error {
			cfg := esConfig(c)
			if cfg == nil {
				return cli.Exit("unlock needs --es-url (or ELASTICSEARCH_URL)", exitUsage)
			}
			es, err := esindex.NewClient(*cfg)
			if err != nil {
				return cli.Exit(err.Error(), exitFailure)
			}
			if _, err := esindex.Ping(c.Context, es); err != nil {
				return cli.Exit(err.Error(), exitFailure)
			}
			held, found, err := esindex.BreakLease(c.Context, es, c.String("index"))
			if err != nil {
				return cli.Exit(err.Error(), exitFailure)
			}
			if !found {
				fmt.Fprintf(c.App.Writer, "alias %s has no lease; nothing to do\n", c.String("index"))
				return nil
			}
			fmt.Fprintf(c.App.Writer, "broke the lease on %s held by %s\n", c.String("index"), held)
			return nil
		},
	}
}
