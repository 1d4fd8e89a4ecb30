// Package clirun holds what essync's two commands (essync and essync-bench)
// share around urfave/cli: running an app with its error mapped to an exit
// code and printed once, and the --log-level flag that sets up log/slog.
package clirun

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/urfave/cli/v2"
)

// Exit codes every essync command uses; commands add their own above these.
const (
	ExitOK      = 0
	ExitFailure = 1
	ExitUsage   = 2
)

// Run runs app with args and returns the process's exit code. A
// cli.ExitCoder keeps its own code; any other error exits with classify's
// code (ExitFailure when classify is nil). The error is printed to stderr
// once, prefixed with the app's name.
func Run(app *cli.App, args []string, stderr io.Writer, classify func(error) int) int {
	err := app.Run(args)
	if err == nil {
		return ExitOK
	}
	var exitErr cli.ExitCoder
	if errors.As(err, &exitErr) {
		if msg := exitErr.Error(); msg != "" {
			fmt.Fprintf(stderr, "%s: %s\n", app.Name, msg)
		}
		return exitErr.ExitCode()
	}
	fmt.Fprintf(stderr, "%s: %v\n", app.Name, err)
	if classify != nil {
		return classify(err)
	}
	return ExitFailure
}

// LogLevelFlag is the --log-level flag; envVars may name variables that set it too.
func LogLevelFlag(envVars ...string) cli.Flag {
	return &cli.StringFlag{Name: "log-level", Value: "info", Usage: "debug, info, warn or error", EnvVars: envVars}
}

// SetLogLevel is an app's Before hook: it makes slog's default logger a text
// logger on stderr at the level --log-level names, or fails with a usage error.
func SetLogLevel(c *cli.Context) error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.String("log-level"))); err != nil {
		return cli.Exit(fmt.Sprintf("--log-level: %v", err), ExitUsage)
	}
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})))
	return nil
}
