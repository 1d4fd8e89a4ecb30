// Command essync-bench runs essync's whole-pipeline and Elasticsearch
// benchmarks. They live apart from the essync command so its users see only
// what they need; each benchmark runs its baseline in the same process and
// prints the ratio, and docs/BENCHMARKS.md records the commands and results.
package main

import (
	"os"

	"github.com/essync/essync/esindex"
	"github.com/essync/essync/internal/clirun"
	"github.com/essync/essync/internal/esflags"
	"github.com/urfave/cli/v2"
)

// Exit codes.
const (
	exitOK      = clirun.ExitOK
	exitFailure = clirun.ExitFailure
	exitUsage   = clirun.ExitUsage
)

func main() {
	os.Exit(run(os.Args))
}

// run executes the CLI and maps errors to exit codes.
func run(args []string) int { return clirun.Run(newApp(), args, os.Stderr, nil) }

func newApp() *cli.App {
	cmd := benchCommand()
	return &cli.App{
		Name:        "essync-bench",
		Usage:       cmd.Usage,
		Description: cmd.Description,
		Flags:       []cli.Flag{clirun.LogLevelFlag()},
		Before:      clirun.SetLogLevel,
		OnUsageError: func(c *cli.Context, err error, isSubcommand bool) error {
			return cli.Exit(err.Error(), exitUsage)
		},
		ExitErrHandler: func(*cli.Context, error) {},
		Commands:       cmd.Subcommands,
	}
}

// esFlags are the shared Elasticsearch connection flags.
func esFlags() []cli.Flag { return esflags.Flags() }

// esConfig returns the connection config, or nil when no URL was given.
func esConfig(c *cli.Context) *esindex.Config { return esflags.Config(c) }
