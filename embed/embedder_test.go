package embed

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func unitLength(v []float32) bool {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	return math.Abs(s-1) < 1e-4
}

func maxDiff(a, b []float32) float64 {
	var m float64
	for i := range a {
		m = math.Max(m, math.Abs(float64(a[i]-b[i])))
	}
	return m
}

// mixedInputs is a catalog-like list of good and bad images.
func mixedInputs() []Input {
	return []Input{
		{"cat", img("photos", "chelsea.jpg")},
		{"empty", img("broken", "empty.jpg")},
		{"coffee", img("photos", "coffee.jpg")},
		{"bomb", img("broken", "bomb.png")},
		{"rocket", img("photos", "rocket.jpg")},
		{"gif", img("formats", "anim.gif")},
		{"webp", img("formats", "lossless.webp")},
		{"cmyk", img("formats", "cmyk.jpg")},
		{"text", img("broken", "text.jpg")},
		{"astronaut", img("photos", "astronaut.jpg")},
		{"png16", img("formats", "rgb16.png")},
	}
}

func TestEmbedOrderErrorsAndBatchInvariance(t *testing.T) {
	inputs := mixedInputs()
	bad := map[string]string{"empty": "empty file", "bomb": "above the limit", "text": "not a JPEG"}
	var single []Result
	for _, bs := range []int{1, 3, 16} {
		e := newTestEmbedder(t, tinyCard(t, "tiny-nchw-crop"), Options{BatchSize: bs, DecodeWorkers: 3})
		var calls []int
		res, err := e.Embed(context.Background(), inputs, func(done int) { calls = append(calls, done) })
		if err != nil {
			t.Fatal(err)
		}
		if len(res) != len(inputs) || len(calls) != len(inputs) || calls[len(calls)-1] != len(inputs) {
			t.Fatalf("batch %d: %d results, progress %v", bs, len(res), calls)
		}
		for i, r := range res {
			if r.ID != inputs[i].ID {
				t.Fatalf("batch %d: result %d is %q, want %q (order)", bs, i, r.ID, inputs[i].ID)
			}
			if want, isBad := bad[r.ID]; isBad {
				if r.Err == nil || !errors.Is(r.Err, ErrImage) || !strings.Contains(r.Err.Error(), want) || r.Vector != nil {
					t.Errorf("batch %d: %s: err %v, want ErrImage with %q", bs, r.ID, r.Err, want)
				}
				continue
			}
			if r.Err != nil || len(r.Vector) != e.Dims() || !unitLength(r.Vector) || len(r.ImageSHA256) != 64 || r.Cached {
				t.Errorf("batch %d: %s: err %v, %d dims, unit %v", bs, r.ID, r.Err, len(r.Vector), unitLength(r.Vector))
			}
		}
		if single == nil {
			single = res
			continue
		}
		for i := range res {
			if d := maxDiff(res[i].Vector, single[i].Vector); d > 1e-5 {
				t.Errorf("batch %d: %s differs from batch 1 by %g", bs, res[i].ID, d)
			}
		}
	}
	if d := maxDiff(single[0].Vector, single[2].Vector); d < 1e-3 {
		t.Errorf("cat and coffee vectors are nearly identical (max diff %g): the model sees no difference", d)
	}
}

func TestEmbedLayoutsAgree(t *testing.T) {
	// tiny_nhwc is tiny_nchw with a transpose in front: the same image must give the same vector.
	inputs := []Input{{"cat", img("photos", "chelsea.jpg")}, {"alpha", img("formats", "alpha.png")}}
	for _, mode := range []string{"crop", "pad"} {
		a := newTestEmbedder(t, tinyCard(t, "tiny-nchw-"+mode), Options{})
		b := newTestEmbedder(t, tinyCard(t, "tiny-nhwc-"+mode), Options{})
		ra, err := a.Embed(context.Background(), inputs, nil)
		if err != nil {
			t.Fatal(err)
		}
		rb, err := b.Embed(context.Background(), inputs, nil)
		if err != nil {
			t.Fatal(err)
		}
		for i := range inputs {
			if ra[i].Err != nil || rb[i].Err != nil {
				t.Fatalf("%s: %v / %v", mode, ra[i].Err, rb[i].Err)
			}
			if d := maxDiff(ra[i].Vector, rb[i].Vector); d > 1e-5 {
				t.Errorf("%s %s: NCHW and NHWC differ by %g", mode, inputs[i].ID, d)
			}
		}
	}
	crop := newTestEmbedder(t, tinyCard(t, "tiny-nchw-crop"), Options{})
	pad := newTestEmbedder(t, tinyCard(t, "tiny-nchw-pad"), Options{})
	rc, _ := crop.Embed(context.Background(), inputs[:1], nil)
	rp, _ := pad.Embed(context.Background(), inputs[:1], nil)
	if d := maxDiff(rc[0].Vector, rp[0].Vector); d < 1e-4 {
		t.Errorf("pad and crop give the same vector for a 3:2 photo (diff %g): resize mode ignored", d)
	}
}

func TestEmbedRefusesZeroVector(t *testing.T) {
	e := newTestEmbedder(t, tinyCard(t, "tiny-zero"), Options{})
	res, err := e.Embed(context.Background(), []Input{{"cat", img("photos", "chelsea.jpg")}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Err == nil || !strings.Contains(res[0].Err.Error(), "zero, NaN or Inf") || res[0].Vector != nil {
		t.Errorf("got %+v, want a zero-vector error", res[0])
	}
}

func TestEmbedCancelled(t *testing.T) {
	e := newTestEmbedder(t, tinyCard(t, "tiny-nchw-crop"), Options{BatchSize: 2})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := e.Embed(ctx, mixedInputs(), nil)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	// The Embedder stays usable after a cancelled run.
	res, err := e.Embed(context.Background(), mixedInputs()[:1], nil)
	if err != nil || res[0].Err != nil {
		t.Errorf("after cancel: %v %v", err, res[0].Err)
	}
}

func TestNewRejectsMismatchedModel(t *testing.T) {
	lib := needORT(t)
	tests := []struct {
		name string
		edit func(c *Card)
		want string
	}{
		{"checksum", func(c *Card) { c.SHA256 = strings.Repeat("0", 64) }, "has sha256"},
		{"output name", func(c *Card) { c.OutputName = "embedding" }, `no output named "embedding"`},
		{"input name", func(c *Card) { c.InputName = "image" }, `no input named "image"`},
		{"dims", func(c *Card) { c.Dims = 17 }, "output \"features\""},
		{"layout", func(c *Card) { c.Layout = LayoutNHWC }, "input \"pixels\""},
		{"size", func(c *Card) { c.Size = 64 }, "input \"pixels\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tinyCard(t, "tiny-nchw-crop")
			tt.edit(c)
			e, err := New(c, Options{ORTLib: lib})
			if err == nil {
				e.Close()
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New: %v; want error with %q", err, tt.want)
			}
		})
	}
}

func TestFindORTLibrary(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "libonnxruntime.so.1")
	if _, err := FindORTLibrary(missing); !errors.Is(err, ErrORTMissing) || !strings.Contains(err.Error(), "scripts/install-ort") {
		t.Errorf("explicit missing: %v", err)
	}
	t.Setenv(ORTEnv, missing)
	if _, err := FindORTLibrary(""); !errors.Is(err, ErrORTMissing) || !strings.Contains(err.Error(), ORTEnv) {
		t.Errorf("env missing: %v", err)
	}
	lib := needORTFromLocal(t)
	t.Setenv(ORTEnv, lib)
	if got, err := FindORTLibrary(""); err != nil || got != lib {
		t.Errorf("env: %q %v", got, err)
	}
	// A library that is not ONNX Runtime fails with the fix in the message.
	notORT := filepath.Join(t.TempDir(), "libfake.so")
	os.WriteFile(notORT, []byte("not a shared library"), 0o644)
	if err := initORT(notORT); err == nil {
		t.Error("initORT accepted a fake library")
	}
}

// needORTFromLocal finds the project-local library without looking at the env.
func needORTFromLocal(t *testing.T) string {
	t.Setenv(ORTEnv, "")
	return needORT(t)
}

func TestEmbedMemoryIsBounded(t *testing.T) {
	// 400 inputs, batch 4, 2 workers: never more than (streams+1)×4+2 image
	// tensors exist, and the results come in input order.
	for _, streams := range []int{1, 2, 3} {
		t.Run(fmt.Sprint("streams", streams), func(t *testing.T) {
			e := newTestEmbedder(t, tinyCard(t, "tiny-nchw-crop"), Options{BatchSize: 4, DecodeWorkers: 2, InferStreams: streams})
			inputs := make([]Input, 400)
			for i := range inputs {
				inputs[i] = Input{ID: string(rune('a' + i%26)), Path: img("formats", "baseline.jpg")}
			}
			n := 0
			err := e.Stream(context.Background(), inputs, func(i int, r Result) error {
				if i != n || r.Err != nil || r.ID != inputs[i].ID {
					t.Fatalf("emit %d %q (want %d %q): %v", i, r.ID, n, inputs[n].ID, r.Err)
				}
				n++
				return nil
			})
			if err != nil || n != len(inputs) {
				t.Fatalf("%v after %d", err, n)
			}
			if got, bound := e.tensorAllocs.Load(), int64((streams+1)*4+2); got > bound {
				t.Errorf("%d image tensors allocated for %d inputs, want ≤ %d", got, len(inputs), bound)
			}
		})
	}
}

// TestEmbedStreamsGiveTheSameVectors: batches that run through the model at
// the same time give every image the vector a single stream gives it, in
// input order, with bad images in their places.
func TestEmbedStreamsGiveTheSameVectors(t *testing.T) {
	card := tinyCard(t, "tiny-nchw-crop")
	files, err := filepath.Glob(filepath.Join(testdata, "eval", "images", "*.jpg"))
	if err != nil || len(files) < 23 {
		t.Fatalf("testdata/eval/images: %d files, %v", len(files), err)
	}
	var inputs []Input
	for i, f := range files[:23] { // distinct photos, so every one is inferred
		inputs = append(inputs, Input{ID: fmt.Sprint("p", i), Path: f})
	}
	inputs[7].Path = filepath.Join(t.TempDir(), "missing.jpg")
	var want []Result
	for _, streams := range []int{1, 2, 4} {
		e := newTestEmbedder(t, card, Options{BatchSize: 3, DecodeWorkers: 2, InferStreams: streams})
		got, err := e.Embed(context.Background(), inputs, nil)
		if err != nil {
			t.Fatal(err)
		}
		if want == nil {
			want = got
			continue
		}
		for i := range got {
			if got[i].ID != want[i].ID || (got[i].Err == nil) != (want[i].Err == nil) || !slices.Equal(got[i].Vector, want[i].Vector) {
				t.Errorf("streams %d, input %d: %q err %v, want %q err %v (or the vectors differ)", streams, i, got[i].ID, got[i].Err, want[i].ID, want[i].Err)
			}
		}
	}
	if want[7].Err == nil || want[6].Err != nil {
		t.Errorf("the missing file should fail alone: %v, %v", want[7].Err, want[6].Err)
	}
}

func TestEmbedRepeatedImageIsInferredOnce(t *testing.T) {
	// A catalog where 60 products share one photo (a placeholder, say), no cache.
	e := newTestEmbedder(t, tinyCard(t, "tiny-nchw-crop"), Options{BatchSize: 4, DecodeWorkers: 2})
	inputs := make([]Input, 60)
	for i := range inputs {
		inputs[i] = Input{ID: string(rune('A' + i)), Path: img("photos", "chelsea.jpg")}
	}
	inputs = append(inputs, Input{"other", img("photos", "coffee.jpg")})
	res, err := e.Embed(context.Background(), inputs, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if r.Err != nil || maxDiff(r.Vector, res[0].Vector) > 1e-6 && i < 60 {
			t.Fatalf("%d: %v", i, r.Err)
		}
	}
	res[1].Vector[0] = 42 // results do not share memory
	if res[2].Vector[0] == 42 {
		t.Error("duplicate results share one vector slice")
	}
	t.Logf("%d images inferred for %d inputs", e.inferred.Load(), len(inputs))
	if n := e.inferred.Load(); n > 11 {
		t.Errorf("%d images inferred for 2 distinct photos (window 10)", n)
	}
}
