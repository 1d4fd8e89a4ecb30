package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"slices"

	"github.com/essync/essync/embed"
	"github.com/urfave/cli/v2"
)

// Build stamps, set by scripts/release with
// -ldflags "-X main.version=… -X main.commit=… -X main.date=… -X main.ortVersion=…".
// A plain go build leaves them empty; currentBuild then falls back to the
// Go toolchain's own VCS stamp, when the build had one.
var (
	version    = "dev"
	commit     = ""
	date       = ""
	ortVersion = "" // the ONNX Runtime version the release archive ships
)

// buildInfo is what `essync version` reports about the binary itself.
type buildInfo struct {
	Version, Commit, Date, Go string
}

// currentBuild returns the stamped build facts, completed from
// debug.ReadBuildInfo (vcs.revision, vcs.time, a go install'd module
// version) where the stamps are empty.
func currentBuild() buildInfo {
	b := buildInfo{Version: version, Commit: commit, Date: date,
		Go: runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH}
	if bi, ok := debug.ReadBuildInfo(); ok {
		var dirty bool
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if commit == "" {
					b.Commit = s.Value
				}
			case "vcs.time":
				if date == "" {
					b.Date = s.Value
				}
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
		if commit == "" && b.Commit != "" && dirty {
			b.Commit += "-dirty"
		}
		if version == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			b.Version = bi.Main.Version
		}
	}
	if b.Commit == "" {
		b.Commit = "unknown"
	}
	if b.Date == "" {
		b.Date = "unknown"
	}
	return b
}

// pickFlags returns the flags of all whose first name is in names, so a
// command can share a subset of another's flags without redefining them.
func pickFlags(all []cli.Flag, names ...string) []cli.Flag {
	var out []cli.Flag
	for _, f := range all {
		if slices.Contains(names, f.Names()[0]) {
			out = append(out, f)
		}
	}
	return out
}

func versionCommand() *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "print the essync version, its ONNX Runtime and its default model",
		Description: `Prints the version, commit and build date, the Go version, the ONNX Runtime
library it loads (and its version), the model it uses by default (fingerprint
and card) and the JPEG decoder. Something missing is shown, not an error:
run "essync doctor" for a check with what to do.`,
		Flags: pickFlags(modelFlags(), "model", "ort-lib"),
		Action: func(c *cli.Context) error {
			printVersion(c.App.Writer, c.Path("model"), c.Path("ort-lib"))
			return nil
		},
	}
}

// printVersion writes the version report: one "key: value" line each, so
// scripts (scripts/release) can read single lines.
func printVersion(w io.Writer, modelCard, ortLib string) {
	b := currentBuild()
	fmt.Fprintln(w, "essync", b.Version)
	line := func(key, format string, a ...any) { fmt.Fprintf(w, "%-13s %s\n", key+":", fmt.Sprintf(format, a...)) }
	line("commit", "%s", b.Commit)
	line("built", "%s", b.Date)
	line("go", "%s", b.Go)
	built := ""
	if ortVersion != "" {
		built = ", built with " + ortVersion
	}
	if v, lib, err := embed.ORTVersion(ortLib); err != nil {
		line("onnxruntime", "unavailable%s: %v", built, err)
	} else {
		line("onnxruntime", "%s (%s%s)", v, lib, built)
	}
	if card, err := embed.LoadCardOrDefault(modelCard); err != nil {
		line("model", "unavailable: %v", err)
	} else {
		line("model", "%s (%d-d)", card.Fingerprint(), card.Dims)
		line("model card", "%s", card.Path())
	}
	if lib := embed.TurboJPEGLibrary(); lib != "" {
		line("jpeg decoder", "libjpeg-turbo (%s)", lib)
	} else {
		line("jpeg decoder", "Go image/jpeg (libjpeg-turbo not found; optional)")
	}
}
