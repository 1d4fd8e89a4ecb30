package embed

import (
	"os"
	"path/filepath"
	"testing"
)

// testdata is the repository's shared testdata folder.
const testdata = "../testdata"

// needORT returns the ONNX Runtime library, skipping the test when it is not
// installed — or failing it when $CI is set, where it must be.
func needORT(tb testing.TB) string {
	tb.Helper()
	lib, err := FindORTLibrary("")
	if err != nil {
		if os.Getenv("CI") != "" {
			tb.Fatalf("ONNX Runtime is required in CI: %v", err)
		}
		tb.Skipf("ONNX Runtime not installed (run scripts/install-ort): %v", err)
	}
	return lib
}

// tinyCard loads one of the tiny test model cards, e.g. "tiny-nchw-crop".
func tinyCard(tb testing.TB, name string) *Card {
	tb.Helper()
	c, err := LoadCard(filepath.Join(testdata, "models", name+".json"))
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// newTestEmbedder builds an Embedder for a card with small defaults and
// closes it at the end of the test.
func newTestEmbedder(tb testing.TB, card *Card, opts Options) *Embedder {
	tb.Helper()
	opts.ORTLib = needORT(tb)
	if opts.IntraOpThreads == 0 {
		opts.IntraOpThreads = 1
	}
	e, err := New(card, opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := e.Close(); err != nil {
			tb.Error(err)
		}
	})
	return e
}

func img(parts ...string) string {
	return filepath.Join(append([]string{testdata, "images"}, parts...)...)
}

// defaultCard loads the shipped default model card (found as essync finds it).
func defaultCard(tb testing.TB) *Card {
	tb.Helper()
	p, err := DefaultCardPath()
	if err != nil {
		tb.Fatal(err)
	}
	c, err := LoadCard(p)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}
