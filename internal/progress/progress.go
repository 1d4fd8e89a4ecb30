// Package progress reports a long stage's progress: a bar on a terminal,
// periodic log lines otherwise. essync and essync-bench share it.
package progress

import (
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// New returns a per-stage progress reporter: a bar on a terminal,
// plain periodic log lines otherwise (CI logs, cron mails).
func New() func(stage string, total int) func(done int) {
	if term.IsTerminal(int(os.Stderr.Fd())) {
		return barProgress
	}
	return logProgress
}

func barProgress(stage string, total int) func(int) {
	bar := progressbar.NewOptions(total,
		progressbar.OptionSetDescription(stage),
		progressbar.OptionSetWriter(os.Stderr),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionOnCompletion(func() { os.Stderr.WriteString("\n") }),
		progressbar.OptionClearOnFinish(),
	)
	var mu sync.Mutex
	return func(done int) {
		mu.Lock()
		defer mu.Unlock()
		bar.Set(done)
	}
}

// logProgress logs at most every 10 seconds, and at the end.
func logProgress(stage string, total int) func(int) {
	var mu sync.Mutex
	start, last := time.Now(), time.Now()
	return func(done int) {
		mu.Lock()
		defer mu.Unlock()
		if done < total && time.Since(last) < 10*time.Second {
			return
		}
		last = time.Now()
		rate := float64(done) / max(time.Since(start).Seconds(), 1e-3)
		slog.Info("progress", "stage", stage, "done", done, "total", total, "per_second", int(rate))
	}
}
