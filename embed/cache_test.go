package embed

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// captureLogs sends slog output to a buffer for the rest of the test.
func captureLogs(t *testing.T) *bytes.Buffer {
	var buf bytes.Buffer
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&buf, nil)))
	t.Cleanup(func() { slog.SetDefault(old) })
	return &buf
}

func TestCacheSecondRunIsServedFromCache(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cache", "vectors.bolt")
	inputs := mixedInputs()
	card := tinyCard(t, "tiny-nchw-crop")
	e := newTestEmbedder(t, card, Options{CachePath: path, BatchSize: 4})
	first, err := e.Embed(context.Background(), inputs, nil)
	if err != nil {
		t.Fatal(err)
	}
	second, err := e.Embed(context.Background(), inputs, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range inputs {
		if first[i].Err != nil {
			if second[i].Err == nil {
				t.Errorf("%s: bad image became good on the second run", inputs[i].ID)
			}
			continue
		}
		if first[i].Cached || !second[i].Cached || maxDiff(first[i].Vector, second[i].Vector) != 0 {
			t.Errorf("%s: cached %v→%v, diff %g", inputs[i].ID, first[i].Cached, second[i].Cached, maxDiff(first[i].Vector, second[i].Vector))
		}
	}
	// Another model with the same images must not see these vectors.
	other := newTestEmbedder(t, tinyCard(t, "tiny-nhwc-crop"), Options{CachePath: filepath.Join(filepath.Dir(path), "other.bolt")})
	e.Close()
	other.Close()
	o := newTestEmbedder(t, tinyCard(t, "tiny-nhwc-crop"), Options{CachePath: path})
	res, _ := o.Embed(context.Background(), inputs[:1], nil)
	if res[0].Cached {
		t.Error("a different model's vector was served from the cache")
	}
}

func TestCacheCorruptFileIsMovedAsideAndRebuilt(t *testing.T) {
	logs := captureLogs(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "vectors.bolt")
	garbage := bytes.Repeat([]byte("not a bolt database "), 2000)
	if err := os.WriteFile(path, garbage, 0o644); err != nil {
		t.Fatal(err)
	}
	e := newTestEmbedder(t, tinyCard(t, "tiny-nchw-crop"), Options{CachePath: path})
	res, err := e.Embed(context.Background(), mixedInputs()[:1], nil)
	if err != nil || res[0].Err != nil || res[0].Cached {
		t.Fatalf("%v %+v", err, res[0])
	}
	aside, _ := filepath.Glob(path + ".corrupt-*")
	if len(aside) != 1 {
		t.Fatalf("corrupt file not moved aside: %v", aside)
	}
	if kept, _ := os.ReadFile(aside[0]); !bytes.Equal(kept, garbage) {
		t.Error("moved-aside file is not the original")
	}
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "corrupt") {
		t.Errorf("no warning logged: %s", logs)
	}
}

func TestCacheTamperedEntryIsAMiss(t *testing.T) {
	logs := captureLogs(t)
	path := filepath.Join(t.TempDir(), "vectors.bolt")
	card := tinyCard(t, "tiny-nchw-crop")
	inputs := mixedInputs()[:1]
	e := newTestEmbedder(t, card, Options{CachePath: path})
	first, _ := e.Embed(context.Background(), inputs, nil)
	e.Close()
	// Flip one byte of the stored vector (not its CRC).
	db, err := bolt.Open(path, 0o644, nil)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := cacheKey(card.SHA256, first[0].ImageSHA256)
	err = db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(cacheBucket)
		v := append([]byte(nil), b.Get(key)...)
		v[10] ^= 0xff
		return b.Put(key, v)
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	e2 := newTestEmbedder(t, card, Options{CachePath: path})
	res, _ := e2.Embed(context.Background(), inputs, nil)
	if res[0].Cached || res[0].Err != nil || maxDiff(res[0].Vector, first[0].Vector) > 1e-6 {
		t.Errorf("tampered entry: cached %v err %v", res[0].Cached, res[0].Err)
	}
	if !strings.Contains(logs.String(), "failed its check") {
		t.Errorf("no warning for the tampered entry: %s", logs)
	}
	res, _ = e2.Embed(context.Background(), inputs, nil)
	if !res[0].Cached {
		t.Error("re-embedded vector was not written back")
	}
}

func TestVectorEncoding(t *testing.T) {
	v := []float32{0.6, -0.8, 0}
	b := encodeVector(v)
	if got := decodeVector(b, 3); maxDiff(got, v) != 0 {
		t.Errorf("round trip %v", got)
	}
	tests := map[string][]byte{"short": b[:len(b)-1], "wrong dims": encodeVector([]float32{1, 2}), "empty": nil}
	for name, bad := range tests {
		if decodeVector(bad, 3) != nil {
			t.Errorf("%s accepted", name)
		}
	}
}
