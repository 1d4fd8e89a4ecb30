package embed

import (
	"fmt"
	"path/filepath"
	"testing"
)

func TestZZInferCPU(t *testing.T) {
	card := defaultCard(t)
	v1, _ := LoadCard(filepath.Join(filepath.Dir(filepath.Dir(card.Path())), "efficientnet-lite0-v1", "card.json"))
	for _, c := range []*Card{card, v1, card, v1} {
		for _, th := range []int{1, 2} {
			e := newTestEmbedder(t, c, Options{BatchSize: 16, IntraOpThreads: th})
			batch := make([]float32, 16*tensorLen(c))
			for i := range batch {
				batch[i] = float32(i%97)/97 - 0.5
			}
			e.infer(batch, 16)
			c0 := processCPU(t)
			for i := 0; i < 4; i++ {
				e.infer(batch, 16)
			}
			fmt.Printf("%s threads %d: %.2f cpu ms/img\n", c.Name, th, float64((processCPU(t)-c0).Microseconds())/1000/64)
		}
	}
}
