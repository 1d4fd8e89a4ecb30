// Command essync-bench runs essync's whole-pipeline and Elasticsearch
// benchmarks. They live apart from the essync command so its users see only
// what they need; each benchmark runs its baseline in the same process and
// prints the ratio, and docs/BENCHMARKS.md records the commands and results.
package main

import (
	"fmt"
	"os"
	"runtime/pprof"

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
		Flags: []cli.Flag{
			clirun.LogLevelFlag(),
			&cli.StringFlag{Name: "memprofile", Usage: "write a Go heap profile (allocations by site, `go tool pprof -sample_index=alloc_space`) to this file at the end"},
		},
		Before: clirun.SetLogLevel,
		OnUsageError: func(c *cli.Context, err error, isSubcommand bool) error {
			return cli.Exit(err.Error(), exitUsage)
		},
		After: func(c *cli.Context) error {
			if path := c.String("memprofile"); path != "" {
				return writeHeapProfile(path)
			}
			return nil
		},
		ExitErrHandler: func(*cli.Context, error) {},
		Commands:       cmd.Subcommands,
	}
}

// esFlags are the shared Elasticsearch connection flags.
func esFlags() []cli.Flag { return esflags.Flags() }

// esConfig returns the connection config, or nil when no URL was given.
func esConfig(c *cli.Context) *esindex.Config { return esflags.Config(c) }

// writeHeapProfile writes the Go heap profile to path: where the run's
// memory was allocated, to find what to cut.
func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("--memprofile: %w", err)
	}
	defer f.Close()
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		return fmt.Errorf("--memprofile %s: %w", path, err)
	}
	return f.Close()
}
