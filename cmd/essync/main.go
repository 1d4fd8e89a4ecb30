// Command essync keeps an Elasticsearch index ready for visual product search:
// it embeds product images with an ONNX model, computes every product's most
// similar products, and loads both into Elasticsearch without downtime.
package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/urfave/cli/v2"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// Exit codes shared by every subcommand.
const (
	exitOK          = 0
	exitFailure     = 1
	exitUsage       = 2
	exitTooManySkip = 3
)

func main() {
	os.Exit(run(os.Args))
}

// run executes the CLI and maps errors to exit codes, so tests can call it.
func run(args []string) int {
	app := newApp()
	err := app.Run(args)
	if err == nil {
		return exitOK
	}
	var exitErr cli.ExitCoder
	if errors.As(err, &exitErr) {
		if msg := exitErr.Error(); msg != "" {
			fmt.Fprintln(os.Stderr, "essync:", msg)
		}
		return exitErr.ExitCode()
	}
	fmt.Fprintln(os.Stderr, "essync:", err)
	return exitFailure
}

// newApp builds the command tree. Each subcommand lives in its own file.
func newApp() *cli.App {
	return &cli.App{
		Name:    "essync",
		Usage:   "keep an Elasticsearch index ready for visual product search",
		Version: version,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "log-level", Value: "info", Usage: "debug, info, warn or error", EnvVars: []string{"ESSYNC_LOG_LEVEL"}},
		},
		Before: func(c *cli.Context) error {
			var level slog.Level
			if err := level.UnmarshalText([]byte(c.String("log-level"))); err != nil {
				return cli.Exit(fmt.Sprintf("--log-level: %v", err), exitUsage)
			}
			slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})))
			return nil
		},
		OnUsageError: func(c *cli.Context, err error, isSubcommand bool) error {
			return cli.Exit(err.Error(), exitUsage)
		},
		ExitErrHandler: func(*cli.Context, error) {}, // run() maps errors to exit codes
		Commands: []*cli.Command{
			versionCommand(),
			fullCommand(),
			incrementalCommand(),
			embedCommand(),
			neighborsCommand(),
			rollbackCommand(),
			verifyCommand(),
			benchCommand(),
		},
	}
}

func versionCommand() *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "print the essync version",
		Action: func(c *cli.Context) error {
			fmt.Fprintln(c.App.Writer, "essync", version)
			return nil
		},
	}
}

// notReady is the honest answer of a subcommand whose issue has not landed yet.
func notReady(name, issue string) cli.ActionFunc {
	return func(*cli.Context) error {
		return cli.Exit(fmt.Sprintf("%s is not implemented yet (see issue %s); nothing was done", name, issue), exitFailure)
	}
}
