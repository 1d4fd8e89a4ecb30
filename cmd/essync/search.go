package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/essync/essync/serve"
	"github.com/urfave/cli/v2"
)

func searchCommand() *cli.Command {
	return &cli.Command{
		Name:      "search",
		Usage:     "find the products most similar to a photo (the query essync serve answers, from the command line)",
		ArgsUsage: " ",
		Flags: append(append([]cli.Flag{
			&cli.PathFlag{Name: "image", Usage: "the query photo", Required: true},
			&cli.IntFlag{Name: "k", Value: 10, Usage: "hits wanted"},
			&cli.BoolFlag{Name: "json", Usage: "print the answer as JSON, as POST /v1/search gives it"},
			&cli.StringFlag{Name: "index", Value: "products", Usage: "the alias to search"},
			numCandidatesFlag(),
		}, modelFlags()...), esFlags()...),
		Action: runSearch,
	}
}

func runSearch(c *cli.Context) error {
	data, err := os.ReadFile(c.Path("image"))
	if err != nil {
		return cli.Exit(fmt.Sprintf("--image: %v", err), exitUsage)
	}
	s, closeAll, err := newSearchService(c, "")
	if err != nil {
		return err
	}
	defer closeAll()
	res, err := s.SearchImage(c.Context, c.Path("image"), data, serve.Query{K: c.Int("k")})
	if err != nil {
		var refused *serve.Error
		if errors.As(err, &refused) && refused.Status < 500 {
			return cli.Exit(refused.Reason, exitUsage)
		}
		return cli.Exit(err.Error(), exitFailure)
	}
	if c.Bool("json") {
		enc := json.NewEncoder(c.App.Writer)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "#\tSIMILARITY\tPRODUCT\tCATALOG FIELDS")
	for i, h := range res.Hits {
		fmt.Fprintf(tw, "%d\t%.4f\t%s\t%s\n", i+1, h.Similarity, h.ID, catalogSummary(h.Source, 100))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(c.App.ErrWriter, "%d hits in %.1f ms, model %s\n", len(res.Hits), res.TookMs, res.Model)
	return nil
}

// catalogSummary renders a hit's catalog fields as key=value pairs, title
// first and the rest sorted, cut to width characters.
func catalogSummary(source json.RawMessage, width int) string {
	var fields map[string]json.RawMessage
	if json.Unmarshal(source, &fields) != nil {
		return ""
	}
	var parts []string
	keys := slices.Sorted(maps.Keys(fields))
	if i := slices.Index(keys, "title"); i > 0 {
		keys = append([]string{"title"}, slices.Delete(keys, i, i+1)...)
	}
	for _, k := range keys {
		switch k {
		case "product_id", "image_name", "similar", "similar_pi", "group_id", "group_size":
			continue
		}
		v := string(fields[k])
		var str string
		if json.Unmarshal(fields[k], &str) == nil {
			v = str
		}
		parts = append(parts, k+"="+v)
	}
	out := strings.Join(parts, " ")
	if r := []rune(out); len(r) > width {
		out = string(r[:width-1]) + "…"
	}
	return out
}
