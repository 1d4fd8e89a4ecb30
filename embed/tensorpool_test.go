package embed

import (
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestRecycledTensorsAreRewritten gives back tensors full of NaN and checks
// that the queries prepared in them (first passes and crop passes, square and
// wide photos, so padding too) equal the ones prepared in fresh memory, and
// that the memory was in fact reused.
func TestRecycledTensorsAreRewritten(t *testing.T) {
	e := newTestEmbedder(t, defaultCard(t), Options{})
	var photos [][]byte
	for _, name := range []string{"camera-orig.jpg", "cat-half.jpg", "rocket-crop.jpg", "astronaut-q30.jpg"} {
		data, err := os.ReadFile(filepath.Join(testdata, "e2e", "images", name))
		if err != nil {
			t.Fatal(err)
		}
		photos = append(photos, data)
	}
	// passes returns copies of every pass tensor of a photo's query, and the
	// tensors themselves.
	passes := func(data []byte) (copies, tensors [][]float32) {
		q, err := e.Prepare("q", data)
		if err != nil {
			t.Fatal(err)
		}
		state, pass := e.Start(q)
		for more := true; more; {
			copies, tensors = append(copies, slices.Clone(pass.Tensor)), append(tensors, pass.Tensor)
			res, err := e.RunPasses([]Pass{pass})
			if err != nil {
				t.Fatal(err)
			}
			pass, more = e.Advance(state, res[0])
		}
		return copies, tensors
	}
	var fresh [][][]float32
	for _, p := range photos {
		c, _ := passes(p)
		fresh = append(fresh, c)
	}
	reused, given := 0, map[*float32]bool{}
	for round := range 6 {
		for i, p := range photos {
			c, tensors := passes(p)
			if len(c) != len(fresh[i]) {
				t.Fatalf("photo %d: %d passes, %d before", i, len(c), len(fresh[i]))
			}
			for k := range c {
				if !slices.Equal(c[k], fresh[i][k]) {
					t.Fatalf("round %d, photo %d, pass %d: the tensor differs from the one made in fresh memory", round, i, k)
				}
			}
			for _, tensor := range tensors {
				if given[&tensor[0]] {
					reused++
				}
				given[&tensor[0]] = true
				for j := range tensor {
					tensor[j] = float32(math.NaN())
				}
				e.Recycle(tensor)
			}
		}
	}
	// Some tensors came back from the pool (sync.Pool may drop some, and
	// -race drops a quarter on purpose).
	if reused == 0 {
		t.Error("no recycled tensor was ever reused")
	}
}
