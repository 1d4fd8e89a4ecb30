package embed

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// TestQueriesGetTheIndexVectors runs the default model (real ORT, SCDA crop
// focus) and the same card with a 128 px localisation pass: a photo searched
// for (Prepare + InferQueries, batched as a server does, and EmbedBytes) must
// get the vector Embed gives the same file in the catalog, focus passes
// included. A query embedded whole would not match the index's vectors.
func TestQueriesGetTheIndexVectors(t *testing.T) {
	card := defaultCard(t)
	if card.Focus != FocusSCDACrop {
		t.Fatalf("default card focus %q, want %q", card.Focus, FocusSCDACrop)
	}
	var in []Input
	for _, im := range loadEvalSet(t) {
		if im.variant == "orig" || im.variant == "white" || im.variant == "paste1" {
			in = append(in, Input{im.file, filepath.Join(testdata, "eval", "images", im.file)})
		}
		if len(in) == 6 {
			break
		}
	}
	locate := *card
	locate.LocateSize, locate.CropSize = 128, 0
	for name, c := range map[string]*Card{"default": card, "locate 128": &locate} {
		t.Run(name, func(t *testing.T) {
			e := newTestEmbedder(t, c, Options{IntraOpThreads: 2, BatchSize: 4})
			want, err := e.Embed(context.Background(), in, nil)
			if err != nil {
				t.Fatal(err)
			}
			queries := make([]Query, len(in))
			for i, x := range in {
				data, err := os.ReadFile(x.Path)
				if err != nil {
					t.Fatal(err)
				}
				if queries[i], err = e.Prepare(x.ID, data); err != nil {
					t.Fatal(err)
				}
				one, err := e.EmbedBytes(x.ID, data)
				if err != nil {
					t.Fatal(err)
				}
				if d := maxDiff(one, want[i].Vector); d > 1e-4 {
					t.Errorf("%s: EmbedBytes differs from Embed by %g", x.ID, d)
				}
			}
			// The test can fail: whole-image vectors (no focus) differ from the index's.
			wholeDiffers := false
			for i, x := range in {
				data, _ := os.ReadFile(x.Path)
				tensor, err := e.Tensor(x.ID, data)
				if err != nil {
					t.Fatal(err)
				}
				whole, _, err := e.InferTensors([][]float32{tensor})
				if err != nil {
					t.Fatal(err)
				}
				wholeDiffers = wholeDiffers || maxDiff(whole[0], want[i].Vector) > 1e-2
			}
			if !wholeDiffers {
				t.Fatal("no photo was cropped by the focus step: the test set proves nothing")
			}
			got, errs, err := e.InferQueries(queries)
			if err != nil {
				t.Fatal(err)
			}
			for i := range in {
				if errs[i] != nil || want[i].Err != nil {
					t.Fatalf("%s: InferQueries err %v, Embed err %v", in[i].ID, errs[i], want[i].Err)
				}
				if d := maxDiff(got[i], want[i].Vector); d > 1e-4 {
					t.Errorf("%s: batched query differs from Embed by %g", in[i].ID, d)
				}
			}
		})
	}
}
