package main

import "github.com/urfave/cli/v2"

func neighborsCommand() *cli.Command {
	return &cli.Command{
		Name:   "neighbors",
		Usage:  "not ready: see issue 4",
		Action: notReady("neighbors", "4"),
	}
}
