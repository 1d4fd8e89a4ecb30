package verify

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// WriteJSON writes the report as indented JSON.
func WriteJSON(w io.Writer, r *Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteTable writes the report for a person: the index's state, the sample's
// recall, then one row per finding (kind, products, detail).
func WriteTable(w io.Writer, r *Report) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "alias\t%s → %s\n", r.Alias, strings.Join(r.Indices, ", "))
	if r.Meta.Present {
		docs := "-"
		if r.Meta.Documents != nil {
			docs = fmt.Sprint(*r.Meta.Documents)
		}
		fmt.Fprintf(tw, "index\tmodel %s, %d dims, complete %v, incremental_pending %v, documents recorded %s\n",
			r.Meta.Model, r.Meta.Dims, r.Meta.Complete, r.Meta.Pending, docs)
	}
	fmt.Fprintf(tw, "documents\t%d read\n", r.Documents)
	if r.Catalog != "" {
		fmt.Fprintf(tw, "catalog\t%s: %d products (%d rows skipped)\n", r.Catalog, r.CatalogRows, r.CatalogSkipped)
	}
	fmt.Fprintf(tw, "lists\tK = %d (from %s)\n", r.K, r.KFrom)
	if r.Sample.Size > 0 {
		fmt.Fprintf(tw, "recall\t%.4f @%d on %d sampled products (seed %d, minimum %.4f)\n", r.Sample.Recall, r.Sample.K, r.Sample.Size, r.Sample.Seed, r.Sample.MinRecall)
	}
	if r.Lease != nil {
		fmt.Fprintf(tw, "lease\t%s by %s on %s, expires %s\n", r.Lease.RunID, r.Lease.Command, r.Lease.Host, r.Lease.ExpiresAt.Format("2006-01-02T15:04:05Z07:00"))
	}
	fmt.Fprintf(tw, "took\t%.1f s\n", r.Seconds)
	if err := tw.Flush(); err != nil {
		return err
	}
	if r.Clean() {
		_, err := fmt.Fprintln(w, "\nno findings: the index matches the catalog")
		return err
	}
	fmt.Fprintf(w, "\n%d findings:\n", len(r.Findings))
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KIND\tPRODUCTS\tDETAIL")
	for _, f := range r.Findings {
		ids := strings.Join(f.IDs, " ")
		if ids == "" {
			ids = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", f.Kind, ids, f.Detail)
	}
	return tw.Flush()
}
