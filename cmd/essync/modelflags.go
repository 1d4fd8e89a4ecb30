package main

import (
	"errors"
	"os"
	"path/filepath"

	"github.com/essync/essync/embed"
	"github.com/urfave/cli/v2"
)

// modelFlags are the embedding flags shared by embed, full and incremental.
func modelFlags() []cli.Flag {
	return []cli.Flag{
		&cli.PathFlag{Name: "model", Usage: "model card JSON (default: the shipped EfficientNet-Lite0)", EnvVars: []string{"ESSYNC_MODEL"}},
		&cli.PathFlag{Name: "ort-lib", Usage: "ONNX Runtime shared library (default: lib/ beside the executable, then .cache/ort of a checkout)", EnvVars: []string{embed.ORTEnv}},
		&cli.IntFlag{Name: "batch", Value: 16, Usage: "images per inference batch"},
		&cli.IntFlag{Name: "threads", Value: 0, Usage: "ONNX Runtime intra-op threads (0 = all cores)"},
		&cli.IntFlag{Name: "decode-workers", Value: 0, Usage: "parallel image decoders (0 = all cores)"},
		&cli.IntFlag{Name: "infer-streams", Value: 1, Usage: "batches run through the model at once, each with --threads threads (e.g. --threads 1 --infer-streams 2)"},
		&cli.IntFlag{Name: "max-pixels", Value: embed.DefaultMaxPixels, Usage: "refuse images whose header says more pixels than this"},
		&cli.PathFlag{Name: "cache", Usage: "vector cache file (default: the user cache folder)", EnvVars: []string{"ESSYNC_CACHE"}},
		&cli.BoolFlag{Name: "no-cache", Usage: "embed every image, read and write no cache"},
	}
}

// embedOptions reads modelFlags into embed.Options, with the default cache
// in the user cache folder; the error is a usage error.
func embedOptions(c *cli.Context) (embed.Options, error) {
	if c.Int("batch") < 1 || c.Int("threads") < 0 || c.Int("decode-workers") < 0 || c.Int("max-pixels") < 1 || c.Int("infer-streams") < 1 {
		return embed.Options{}, errors.New("--batch, --max-pixels and --infer-streams must be at least 1; --threads and --decode-workers at least 0")
	}
	cachePath := c.Path("cache")
	if cachePath == "" {
		dir, err := os.UserCacheDir()
		if err != nil {
			dir = os.TempDir()
		}
		cachePath = filepath.Join(dir, "essync", "vectors.bolt")
	}
	if c.Bool("no-cache") {
		cachePath = ""
	}
	return embed.Options{
		ORTLib: c.Path("ort-lib"), BatchSize: c.Int("batch"), IntraOpThreads: c.Int("threads"),
		DecodeWorkers: c.Int("decode-workers"), MaxPixels: c.Int("max-pixels"), CachePath: cachePath,
		InferStreams: c.Int("infer-streams"),
	}, nil
}
