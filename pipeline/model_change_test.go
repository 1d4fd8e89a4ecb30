package pipeline_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/essync/essync/esindex/estest"
	"github.com/essync/essync/pipeline"
)

// TestIncrementalRefusesAnIndexBuiltWithThePreviousDefaultModel: an index
// built with the float32 whole-image model (models/efficientnet-lite0-v1,
// the default before issue 13) is refused by incremental with today's default
// (int8, focus scda-crop: another fingerprint), with the advice to run full.
func TestIncrementalRefusesAnIndexBuiltWithThePreviousDefaultModel(t *testing.T) {
	ctx := context.Background()
	alias := estest.IndexName(t, "oldmodel")
	cfg := e2eConfig(t, alias)
	cfg.ModelCard = filepath.Join("..", "models", "efficientnet-lite0-v1", "card.json")
	if _, err := pipeline.Full(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	cfg.ModelCard = ""
	_, err := pipeline.Incremental(ctx, cfg)
	if !errorsIs(err, pipeline.ErrNeedsFull) {
		t.Fatalf("err %v, want ErrNeedsFull", err)
	}
	if !strings.Contains(err.Error(), "efficientnet-lite0@5b35d9cdc090") || !strings.Contains(err.Error(), "+scda-crop") {
		t.Errorf("error %q should name both models", err)
	}
}
