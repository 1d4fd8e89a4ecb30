// Command essync keeps an Elasticsearch index ready for visual product search:
// it embeds product images with an ONNX model, computes every product's most
// similar products, and loads both into Elasticsearch without downtime.
package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/essync/essync/internal/clirun"
	"github.com/urfave/cli/v2"
)

// Exit codes shared by every subcommand.
const (
	exitOK          = clirun.ExitOK
	exitFailure     = clirun.ExitFailure
	exitUsage       = clirun.ExitUsage
	exitTooManySkip = 3
	exitLeaseHeld   = 4 // another run holds the alias's lease
)

func main() {
	os.Exit(run(os.Args))
}

// run executes the CLI and maps errors to exit codes, so tests can call it.
// urfave/cli's missing-flags error is a usage error too.
func run(args []string) int {
	return clirun.Run(newApp(), args, os.Stderr, func(err error) int {
		if isMissingFlags(err) {
			return exitUsage
		}
		return exitFailure
	})
}

// isMissingFlags reports whether err is urfave/cli's "Required flag(s) … not
// set", which it returns past OnUsageError; it is a usage error like any
// other (exit 2). The error type is unexported, so its message is matched;
// TestUsageErrorsExitTwo fails if a new urfave/cli changes it.
func isMissingFlags(err error) bool {
	msg := err.Error()
	return strings.HasPrefix(msg, "Required flag ") || strings.HasPrefix(msg, "Required flags ")
}

// newApp builds the command tree. Each subcommand lives in its own file.
func newApp() *cli.App {
	app := &cli.App{
		Name:           "essync",
		Usage:          "keep an Elasticsearch index ready for visual product search",
		Version:        version,
		Flags:          []cli.Flag{clirun.LogLevelFlag("ESSYNC_LOG_LEVEL")},
		Before:         clirun.SetLogLevel,
		OnUsageError:   usageError,
		ExitErrHandler: func(*cli.Context, error) {}, // run() maps errors to exit codes
		Commands: []*cli.Command{
			versionCommand(),
			doctorCommand(),
			fullCommand(),
			incrementalCommand(),
			embedCommand(),
			neighborsCommand(),
			groupsCommand(),
			rollbackCommand(),
			unlockCommand(),
			serveCommand(),
			searchCommand(),
			verifyCommand(),
		},
	}
	for _, cmd := range app.Commands {
		if cmd.OnUsageError == nil {
			cmd.OnUsageError = usageError
		}
	}
	return app
}

// usageError makes a wrong or unknown flag of any subcommand exit 2.
func usageError(c *cli.Context, err error, isSubcommand bool) error {
	return cli.Exit(err.Error(), exitUsage)
}

// notReady is the honest answer of a subcommand whose issue has not landed yet.
func notReady(name, issue string) cli.ActionFunc {
	return func(*cli.Context) error {
		return cli.Exit(fmt.Sprintf("%s is not implemented yet (see issue %s); nothing was done", name, issue), exitFailure)
	}
}
