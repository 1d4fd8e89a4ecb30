package clirun

import (
	"bytes"
	"errors"
	"testing"

	"github.com/urfave/cli/v2"
)

func TestRunMapsErrorsToExitCodes(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		classify func(error) int
		want     int
		stderr   string
	}{
		{"success", nil, nil, ExitOK, ""},
		{"exit coder keeps its code", cli.Exit("lease held", 4), nil, 4, "tool: lease held\n"},
		{"silent exit coder prints nothing", cli.Exit("", 3), nil, 3, ""},
		{"plain error is a failure", errors.New("boom"), nil, ExitFailure, "tool: boom\n"},
		{"classify decides plain errors", errors.New("Required flag x"), func(error) int { return ExitUsage }, ExitUsage, "tool: Required flag x\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app := &cli.App{Name: "tool", ExitErrHandler: func(*cli.Context, error) {},
				Action: func(*cli.Context) error { return tt.err }}
			var stderr bytes.Buffer
			if got := Run(app, []string{"tool"}, &stderr, tt.classify); got != tt.want {
				t.Errorf("exit code %d, want %d", got, tt.want)
			}
			if stderr.String() != tt.stderr {
				t.Errorf("stderr %q, want %q", stderr.String(), tt.stderr)
			}
		})
	}
}

func TestSetLogLevelRefusesUnknownLevels(t *testing.T) {
	app := &cli.App{Name: "tool", Flags: []cli.Flag{LogLevelFlag()}, Before: SetLogLevel,
		ExitErrHandler: func(*cli.Context, error) {}, Action: func(*cli.Context) error { return nil }}
	var stderr bytes.Buffer
	if got := Run(app, []string{"tool", "--log-level", "loud"}, &stderr, nil); got != ExitUsage {
		t.Fatalf("exit code %d, want %d (stderr %q)", got, ExitUsage, stderr.String())
	}
	if got := Run(app, []string{"tool", "--log-level", "debug"}, &stderr, nil); got != ExitOK {
		t.Fatalf("--log-level debug: exit code %d", got)
	}
}
