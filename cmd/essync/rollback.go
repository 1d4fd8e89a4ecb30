package main

import "github.com/urfave/cli/v2"

func rollbackCommand() *cli.Command {
	return &cli.Command{
		Name:   "rollback",
		Usage:  "not ready: see issue 5",
		Action: notReady("rollback", "5"),
	}
}
