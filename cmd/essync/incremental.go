package main

import "github.com/urfave/cli/v2"

func incrementalCommand() *cli.Command {
	return &cli.Command{
		Name:   "incremental",
		Usage:  "not ready: see issue 6",
		Action: notReady("incremental", "6"),
	}
}
