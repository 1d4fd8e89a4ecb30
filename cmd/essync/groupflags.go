package main

import (
	"encoding/json"
	"fmt"

	"github.com/essync/essync/catalog"
	"github.com/essync/essync/groups"
	"github.com/essync/essync/pipeline"
	"github.com/urfave/cli/v2"
)

// groupFlags are the offer-group flags, shared by groups, full and
// incremental (which compute groups on every run).
func groupFlags() []cli.Flag {
	return []cli.Flag{
		&cli.Float64Flag{Name: "group-threshold", Value: groups.DefaultThreshold, Usage: "offer groups: least similarity of a link (calibrated, see docs/groups-threshold.png)"},
		&cli.Float64Flag{Name: "group-medoid-threshold", Usage: "offer groups: least similarity of a member to its group's medoid (0: threshold - 0.05)"},
		&cli.StringFlag{Name: "group-same", Usage: "offer groups: catalog field two products must share to be grouped (e.g. brand)"},
		&cli.StringFlag{Name: "group-apart", Usage: "offer groups: catalog field whose differing values keep products apart (e.g. colour)"},
		&cli.BoolFlag{Name: "group-verify", Value: true, Usage: "offer groups: confirm every link by comparing the two images' layouts (needs the images; --group-verify=false: off)"},
	}
}

// groupOptions reads groupFlags. fields returns a product's catalog fields
// (nil when there is no catalog); the error is a usage error.
func groupOptions(c *cli.Context, fields func(id string) map[string]json.RawMessage) (groups.Options, error) {
	opts := groups.Options{Threshold: float32(c.Float64("group-threshold")), MedoidThreshold: float32(c.Float64("group-medoid-threshold"))}
	if err := checkGroupThresholds(c); err != nil {
		return opts, err
	}
	for _, f := range []struct {
		flag string
		dst  *func(string) string
	}{{"group-same", &opts.Same}, {"group-apart", &opts.Apart}} {
		name := c.String(f.flag)
		if name == "" {
			continue
		}
		if fields == nil {
			return opts, fmt.Errorf("--%s %s needs catalog fields (with --vectors, pass --catalog and --images)", f.flag, name)
		}
		*f.dst = func(id string) string { return catalog.FieldText(fields(id)[name]) }
	}
	return opts, nil
}

// checkGroupThresholds validates --group-threshold and --group-medoid-threshold.
func checkGroupThresholds(c *cli.Context) error {
	if t := c.Float64("group-threshold"); t <= 0 || t > 1 {
		return fmt.Errorf("--group-threshold must be in (0, 1], got %v", t)
	}
	if t := c.Float64("group-medoid-threshold"); t < 0 || t > 1 {
		return fmt.Errorf("--group-medoid-threshold must be in [0, 1], got %v", t)
	}
	return nil
}

// syncGroupOptions reads groupFlags for full and incremental, which read the
// --group-same/--group-apart values from the catalog rows themselves.
func syncGroupOptions(c *cli.Context) (pipeline.GroupOptions, error) {
	if err := checkGroupThresholds(c); err != nil {
		return pipeline.GroupOptions{}, err
	}
	return pipeline.GroupOptions{
		Threshold: float32(c.Float64("group-threshold")), MedoidThreshold: float32(c.Float64("group-medoid-threshold")),
		Same: c.String("group-same"), Apart: c.String("group-apart"), NoVerify: !c.Bool("group-verify"),
	}, nil
}
