package main

import (
	"github.com/essync/essync/pipeline"
	"github.com/urfave/cli/v2"
)

func incrementalCommand() *cli.Command {
	return &cli.Command{
		Name:  "incremental",
		Usage: "update the live index with new, changed and deleted products only",
		Description: `Reads the catalog and what the live index holds — from the local state snapshot
in --state-dir when it matches the index's generation, otherwise from the index
itself (the log and the report say why) — embeds only new and changed images
(an image is hashed again only when its size or mtime changed), updates the stored neighbour lists incrementally (reverse
neighbours included) and writes only the documents that changed: new ones,
changed ones, partial list and offer-group updates, and deletions. A second run
writes nothing. With --vectors the vectors come from essync embed's folders:
a product whose vector differs from the stored one counts as changed.
Refuses, saying to run essync full, when the index was built with another
model, another -k or another document schema. Flags that shape a new index
(--keep, --shards, --replicas, --index-options, --keep-failed, --out,
--neighbors-json) belong to full and are refused here.

` + exitCodesHelp,
		Flags:  append(commonSyncFlags(), append(modelFlags(), esFlags()...)...),
		Action: func(c *cli.Context) error { return runSync(c, pipeline.Incremental) },
	}
}
