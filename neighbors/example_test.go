package neighbors_test

import (
	"fmt"

	"github.com/essync/essync/neighbors"
)

func ExampleBuild() {
	ids := []string{"red", "crimson", "blue"}
	vectors := []float32{
		1, 0, // red
		0.8, 0.6, // crimson
		0, 1, // blue
	}
	g, err := neighbors.Build(ids, vectors, 2, neighbors.Options{K: 2})
	if err != nil {
		panic(err)
	}
	fmt.Println(g.Neighbors("red"))
	changed, _ := g.Update(map[string][]float32{"scarlet": {0.6, 0.8}}, []string{"crimson"})
	fmt.Println(changed, g.Neighbors("red"))
	// Output:
	// [{crimson 0.8} {blue 0}]
	// [blue red scarlet] [{scarlet 0.6} {blue 0}]
}
