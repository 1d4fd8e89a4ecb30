package main

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"io"
	"strconv"

	"github.com/essync/essync/catalog"
	"github.com/essync/essync/groups"
)

// groupJSON is one group in essync groups' JSON output.
type groupJSON struct {
	GroupID string       `json:"group_id"`
	Size    int          `json:"size"`
	Medoid  string       `json:"medoid"`
	Members []memberJSON `json:"members"`
}

// memberJSON is one product of a group, with the requested catalog fields.
type memberJSON struct {
	ProductID          string                     `json:"product_id"`
	SimilarityToMedoid json.Number                `json:"similarity_to_medoid"`
	Fields             map[string]json.RawMessage `json:"fields,omitempty"`
}

// writeGroups writes the groups of at least minSize products, larger groups
// first, as a JSON array of groups or as CSV rows (one per product).
func writeGroups(w io.Writer, format string, res *groups.Result, minSize int, wanted []string, fields map[string]map[string]json.RawMessage) error {
	bw := bufio.NewWriterSize(w, 1<<16)
	var list []groups.Group
	for _, g := range res.Groups() {
		if len(g.Members) >= minSize {
			list = append(list, g)
		}
	}
	sim := func(m groups.Member) string { return strconv.FormatFloat(float64(m.SimilarityToMedoid), 'f', -1, 32) }
	if format == "csv" {
		cw := csv.NewWriter(bw)
		cw.Write(append([]string{"group_id", "size", "product_id", "similarity_to_medoid"}, wanted...))
		for _, g := range list {
			for _, m := range g.Members {
				row := []string{g.ID, strconv.Itoa(len(g.Members)), m.ID, sim(m)}
				for _, f := range wanted {
					row = append(row, catalog.FieldText(fields[m.ID][f]))
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
	out := make([]groupJSON, 0, len(list))
	for _, g := range list {
		gj := groupJSON{GroupID: g.ID, Size: len(g.Members), Medoid: g.Medoid, Members: make([]memberJSON, len(g.Members))}
		for i, m := range g.Members {
			mj := memberJSON{ProductID: m.ID, SimilarityToMedoid: json.Number(sim(m))}
			if len(wanted) > 0 {
				mj.Fields = map[string]json.RawMessage{}
				for _, f := range wanted {
					if v, ok := fields[m.ID][f]; ok {
						mj.Fields[f] = v
					}
				}
			}
			gj.Members[i] = mj
		}
		out = append(out, gj)
	}
	enc := json.NewEncoder(bw)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		return err
	}
	return bw.Flush()
}
