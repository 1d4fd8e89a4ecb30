package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
)

// Exit codes of a run stopped by a signal: 128 + the signal number, as shells
// report them.
const (
	exitSIGINT  = 130
	exitSIGTERM = 143
)

// interruptible returns a context that is cancelled on the first SIGINT or
// SIGTERM, so every stage stops at its next safe point, leaves the alias as
// it was, releases the lease and writes the report. A second signal exits at
// once. code returns the exit code for the signal received (0: none); stop
// stops listening.
func interruptible(parent context.Context) (ctx context.Context, code func() int, stop func()) {
	ctx, cancel := context.WithCancelCause(parent)
	var got atomic.Int32
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-done:
				return
			case s := <-ch:
				c := int32(exitSIGINT)
				if s == syscall.SIGTERM {
					c = exitSIGTERM
				}
				if !got.CompareAndSwap(0, c) {
					fmt.Fprintf(os.Stderr, "essync: second %s: exiting at once; the alias was not moved by this run\n", s)
					os.Exit(int(c))
				}
				slog.Warn("stopping at the next safe point (signal again to exit at once)", "signal", s.String())
				cancel(fmt.Errorf("interrupted by %s", s))
			}
		}
	}()
	return ctx, func() int { return int(got.Load()) }, func() {
		signal.Stop(ch)
		close(done)
		cancel(nil)
	}
}
