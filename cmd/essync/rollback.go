package main

import (
	"fmt"

	"github.com/essync/essync/esindex"
	"github.com/urfave/cli/v2"
)

func rollbackCommand() *cli.Command {
	return &cli.Command{
		Name:  "rollback",
		Usage: "point the alias back at the previous complete index",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "index", Value: "products", Usage: "the alias to move back"},
		}, esFlags()...),
		Action: func(c *cli.Context) error {
			cfg := esConfig(c)
			if cfg == nil {
				return cli.Exit("rollback needs --es-url (or ELASTICSEARCH_URL)", exitUsage)
			}
			es, err := esindex.NewClient(*cfg)
			if err != nil {
				return cli.Exit(err.Error(), exitFailure)
			}
			if _, err := esindex.Ping(c.Context, es); err != nil {
				return cli.Exit(err.Error(), exitFailure)
			}
			index, err := esindex.Rollback(c.Context, es, c.String("index"))
			if err != nil {
				return cli.Exit(err.Error(), exitFailure)
			}
			fmt.Fprintf(c.App.Writer, "alias %s now points at %s\n", c.String("index"), index)
			return nil
		},
	}
}
