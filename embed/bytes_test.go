package embed

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestEmbedBytesMatchesEmbedAndRefusesBadUploadsByKind(t *testing.T) {
	e := newTestEmbedder(t, tinyCard(t, "tiny-nchw-crop"), Options{BatchSize: 4})
	for _, in := range mixedInputs() {
		data, _ := os.ReadFile(in.Path)
		got, err := e.EmbedBytes(in.ID, data)
		want, _ := e.Embed(context.Background(), []Input{in}, nil)
		switch in.ID {
		case "bomb":
			if !errors.Is(err, ErrTooManyPixels) || !errors.Is(err, ErrImage) {
				t.Errorf("bomb: err %v, want ErrTooManyPixels", err)
			}
		case "text":
			if !errors.Is(err, ErrNotImage) || !errors.Is(err, ErrImage) || !strings.Contains(err.Error(), "text") {
				t.Errorf("text: err %v, want ErrNotImage naming the upload", err)
			}
		case "empty":
			if !errors.Is(err, ErrImage) || errors.Is(err, ErrNotImage) {
				t.Errorf("empty: err %v, want a plain ErrImage", err)
			}
		default:
			if err != nil || want[0].Err != nil {
				t.Fatalf("%s: EmbedBytes err %v, Embed err %v", in.ID, err, want[0].Err)
			}
			if d := maxDiff(got, want[0].Vector); d > 1e-5 {
				t.Errorf("%s: EmbedBytes differs from Embed by %g", in.ID, d)
			}
		}
	}
}

func TestInferTensorsBatchesAnyNumberAndChecksLength(t *testing.T) {
	e := newTestEmbedder(t, tinyCard(t, "tiny-nchw-crop"), Options{BatchSize: 2})
	var tensors [][]float32
	var singles [][]float32
	for _, name := range []string{"chelsea.jpg", "coffee.jpg", "rocket.jpg", "astronaut.jpg", "chelsea.jpg"} {
		data, _ := os.ReadFile(img("photos", name))
		tt, err := e.Tensor(name, data)
		if err != nil {
			t.Fatal(err)
		}
		tensors = append(tensors, tt)
		v, _ := e.EmbedBytes(name, data)
		singles = append(singles, v)
	}
	vecs, errs, err := e.InferTensors(tensors) // 5 > BatchSize: still one batch
	if err != nil || len(vecs) != 5 {
		t.Fatalf("InferTensors: %d vectors, err %v", len(vecs), err)
	}
	for i := range vecs {
		if errs[i] != nil || maxDiff(vecs[i], singles[i]) > 1e-5 {
			t.Errorf("tensor %d: err %v, differs from one-image inference by %g", i, errs[i], maxDiff(vecs[i], singles[i]))
		}
	}
	if _, _, err := e.InferTensors([][]float32{{1, 2, 3}}); err == nil {
		t.Error("a short tensor was accepted")
	}
}

// BenchmarkTensor measures Tensor (header check, decode, resize into the
// model's input) on the e2e photos with the default model's card: the part of
// a search by photo the service adds before inference.
//
//	go test -run '^$' -bench Tensor -benchtime 2000x ./embed/
func BenchmarkTensor(b *testing.B) {
	card := defaultCard(b)
	e := newTestEmbedder(b, card, Options{})
	names, _ := filepath.Glob(filepath.Join(testdata, "e2e", "images", "*.jpg"))
	var photos [][]byte
	for _, n := range names {
		data, _ := os.ReadFile(n)
		photos = append(photos, data)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if _, err := e.Tensor("q", photos[i%len(photos)]); err != nil {
			b.Fatal(err)
		}
	}
}
