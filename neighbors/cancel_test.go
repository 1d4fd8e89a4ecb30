package neighbors

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestBuildAndUpdateStopWhenCancelled cancels a search that would take many
// seconds and checks it returns context.Canceled instead of a graph, for the
// exact and the approximate search and for Update.
func TestBuildAndUpdateStopWhenCancelled(t *testing.T) {
	ids, vecs := clustered(40000, 64, 20, 7)
	for _, exact := range []bool{true, false} {
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(50*time.Millisecond, cancel)
		g, err := BuildContext(ctx, ids, vecs, 64, Options{K: 20, Exact: exact, Recall: 0.999, Seed: 1})
		if !errors.Is(err, context.Canceled) || g != nil {
			t.Errorf("exact=%v: cancelled build returned graph %v, err %v; want context.Canceled", exact, g != nil, err)
		}
		cancel()
	}
	small, smallVecs := ids[:200], vecs[:200*64]
	g, err := Build(small, smallVecs, 64, Options{K: 10, Exact: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	add := map[string][]float32{}
	for i := 200; i < 20000; i++ {
		add[ids[i]] = vecs[i*64 : (i+1)*64]
	}
	if _, err := g.UpdateContext(ctx, add, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled update: err %v, want context.Canceled", err)
	}
}
