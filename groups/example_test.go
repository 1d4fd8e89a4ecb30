package groups_test

import (
	"fmt"

	"github.com/essync/essync/groups"
	"github.com/essync/essync/neighbors"
)

// The pipeline's one call after the neighbour graph is built.
func ExampleFromGraph() {
	ids := []string{"shop-a-42", "shop-b-7", "shop-c-3", "other"}
	vectors := []float32{
		1, 0, // the same photo, three shops
		0.995, 0.0998,
		0.99, -0.1411,
		0, 1, // a different product
	}
	g, _ := neighbors.Build(ids, vectors, 2, neighbors.Options{K: 2})
	res, _ := groups.FromGraph(g, ids, vectors, 2, groups.Options{})
	for _, id := range ids {
		gid, size := res.Of(id)
		fmt.Println(id, gid, size)
	}
	// Output:
	// shop-a-42 g-shop-a-42 3
	// shop-b-7 g-shop-a-42 3
	// shop-c-3 g-shop-a-42 3
	// other g-other 1
}
