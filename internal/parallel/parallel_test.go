package parallel

import (
	"sync/atomic"
	"testing"
)

func TestForCallsEveryIndexOnce(t *testing.T) {
	tests := []struct{ n, workers int }{{0, 4}, {1, 4}, {7, 1}, {100, 3}, {5, 0}, {3, 10}}
	for _, tt := range tests {
		calls := make([]atomic.Int32, tt.n)
		For(tt.n, tt.workers, func(i int) { calls[i].Add(1) })
		for i := range calls {
			if got := calls[i].Load(); got != 1 {
				t.Errorf("n=%d workers=%d: index %d called %d times, want 1", tt.n, tt.workers, i, got)
			}
		}
	}
}
