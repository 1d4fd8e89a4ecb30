package embed_test

import (
	"context"
	"fmt"
	"log"

	"github.com/essync/essync/embed"
)

// Embedding a few images with the default model and a vector cache.
func ExampleEmbedder_Embed() {
	cardPath, err := embed.DefaultCardPath()
	if err != nil {
		log.Fatal(err)
	}
	card, err := embed.LoadCard(cardPath)
	if err != nil {
		log.Fatal(err)
	}
	e, err := embed.New(card, embed.Options{BatchSize: 16, CachePath: "/tmp/essync-vectors.bolt"})
	if err != nil {
		log.Fatal(err) // says to run scripts/install-ort when ONNX Runtime is missing
	}
	defer e.Close()
	results, err := e.Embed(context.Background(), []embed.Input{
		{ID: "p-1", Path: "images/p-1.jpg"},
		{ID: "p-2", Path: "images/p-2.png"},
	}, func(done int) { fmt.Println("done", done) })
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range results {
		if r.Err != nil {
			fmt.Println("skipped", r.ID, r.Err)
			continue
		}
		fmt.Println(r.ID, len(r.Vector), e.Fingerprint(), r.Cached)
	}
}
