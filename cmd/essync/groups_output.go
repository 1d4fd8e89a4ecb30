package main

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/urfave/cli/v2"

	"github.com/essync/essync/catalog"
	"github.com/essync/essync/groups"
)

// groupJSON is one group in essync groups' JSON output.
type groupJSON struct {
	GroupID string       `json:"group_id"`
	Size    int          `json:"size"`
	Medoid  string       `json:"medoid,omitempty"` // empty with --stored
	Members []memberJSON `json:"members"`
}

// memberJSON is one product of a group, with the requested catalog fields.
type memberJSON struct {
	ProductID          string                     `json:"product_id"`
	SimilarityToMedoid json.Number                `json:"similarity_to_medoid,omitempty"` // empty with --stored
	Fields             map[string]json.RawMessage `json:"fields,omitempty"`
}

// computedGroups is the output form of the groups of at least minSize
// products in res, larger groups first, with the wanted fields.
func computedGroups(res *groups.Result, minSize int, wanted []string, fields map[string]map[string]json.RawMessage) []groupJSON {
	var out []groupJSON
	for _, g := range res.Groups() {
		if len(g.Members) < minSize {
			continue
		}
		gj := groupJSON{GroupID: g.ID, Size: len(g.Members), Medoid: g.Medoid, Members: make([]memberJSON, len(g.Members))}
		for i, m := range g.Members {
			sim := strconv.FormatFloat(float64(m.SimilarityToMedoid), 'f', -1, 32)
			gj.Members[i] = memberJSON{ProductID: m.ID, SimilarityToMedoid: json.Number(sim), Fields: pick(fields[m.ID], wanted)}
		}
		out = append(out, gj)
	}
	return out
}

// pick returns the wanted fields of one product (nil when none are wanted).
func pick(fields map[string]json.RawMessage, wanted []string) map[string]json.RawMessage {
	if len(wanted) == 0 {
		return nil
	}
	out := map[string]json.RawMessage{}
	for _, f := range wanted {
		if v, ok := fields[f]; ok {
			out[f] = v
		}
	}
	return out
}

// writeGroups writes groups as a JSON array of groups or as CSV rows (one
// per product: group_id, size, product_id, similarity_to_medoid, wanted).
func writeGroups(w io.Writer, format string, list []groupJSON, wanted []string) error {
	bw := bufio.NewWriterSize(w, 1<<16)
	if format == "csv" {
		cw := csv.NewWriter(bw)
		cw.Write(append([]string{"group_id", "size", "product_id", "similarity_to_medoid"}, wanted...))
		for _, g := range list {
			for _, m := range g.Members {
				row := []string{g.GroupID, strconv.Itoa(g.Size), m.ProductID, string(m.SimilarityToMedoid)}
				for _, f := range wanted {
					row = append(row, catalog.FieldText(m.Fields[f]))
				}
				cw.Write(row)
			}
		}
		cw.Flush()
		if err := cw.Error(); err != nil {
			return err
		}
		return bw.Flush()
	}
	if list == nil {
		list = []groupJSON{}
	}
	enc := json.NewEncoder(bw)
	enc.SetIndent("", "  ")
	if err := enc.Encode(list); err != nil {
		return err
	}
	return bw.Flush()
}

// groupsOutput is --out opened for writing, or standard output.
func groupsOutput(c *cli.Context) (io.Writer, func(), error) {
	p := c.Path("out")
	if p == "" {
		return c.App.Writer, func() {}, nil
	}
	f, err := os.Create(p)
	if err != nil {
		return nil, nil, cli.Exit(fmt.Sprintf("--out: %v", err), exitFailure)
	}
	return f, func() { f.Close() }, nil
}
