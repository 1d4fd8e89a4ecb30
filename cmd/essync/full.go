package main

import "github.com/urfave/cli/v2"

func fullCommand() *cli.Command {
	return &cli.Command{
		Name:   "full",
		Usage:  "not ready: see issue 5",
		Action: notReady("full", "5"),
	}
}
