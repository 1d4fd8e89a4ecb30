package main

import (
	"github.com/essync/essync/esindex"
	"github.com/essync/essync/internal/esflags"
	"github.com/urfave/cli/v2"
)

// esFlags are the Elasticsearch connection flags (shared with essync-bench).
func esFlags() []cli.Flag { return esflags.Flags() }

// esConfig returns the connection config, or nil when no URL was given
// (commands that can work offline then write files instead).
func esConfig(c *cli.Context) *esindex.Config { return esflags.Config(c) }
