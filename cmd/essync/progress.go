package main

import "github.com/essync/essync/internal/progress"

// newProgress returns a per-stage progress reporter: a bar on a terminal,
// plain periodic log lines otherwise (CI logs, cron mails).
func newProgress() func(stage string, total int) func(done int) { return progress.New() }
