package pipeline_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/essync/essync/esindex"
	"github.com/essync/essync/esindex/estest"
	"github.com/essync/essync/pipeline"
)

// TestIncrementalDuringFullLoadIsRefusedAndLosesNothing is the issue's
// scenario: an incremental run starts while a full run is loading the same
// alias. It must refuse before doing any work, naming the holder; an
// incremental on another alias is not blocked; and the full run, stopped,
// leaves the alias as it was and releases the lease.
func TestIncrementalDuringFullLoadIsRefusedAndLosesNothing(t *testing.T) {
	es := estest.Client(t)
	ctx := context.Background()
	alias := estest.IndexName(t, "leased")
	other := estest.IndexName(t, "unleased")
	cfg := e2eConfig(t, alias)
	first, err := pipeline.Full(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	otherCfg := e2eConfig(t, other)
	if _, err := pipeline.Full(ctx, otherCfg); err != nil {
		t.Fatal(err)
	}

	proxy := estest.NewFaultProxy(t, estest.URL(), []estest.Fault{estest.Stall})
	loading := cfg
	loading.ES = &esindex.Config{URLs: []string{proxy.URL}, MaxRetries: 1}
	fullCtx, stopFull := context.WithCancel(ctx)
	defer stopFull()
	fullDone := make(chan error, 1)
	go func() {
		_, err := pipeline.Full(fullCtx, loading)
		fullDone <- err
	}()
	select {
	case <-proxy.Stalled():
	case err := <-fullDone:
		t.Fatalf("the full run ended before loading: %v", err)
	case <-time.After(3 * time.Minute):
		t.Fatal("the full run never reached its bulk load")
	}

	rep, err := pipeline.Incremental(ctx, cfg)
	var held *esindex.LeaseHeldError
	if !errors.As(err, &held) || !errors.Is(err, esindex.ErrLeaseHeld) {
		t.Fatalf("incremental during a full load: err %v, want the lease to be held", err)
	}
	if held.Holder.Command != "essync full" || held.Holder.PID == 0 || held.Holder.Host == "" || held.Holder.StartedAt == "" ||
		!strings.Contains(err.Error(), "essync unlock --index "+alias) {
		t.Errorf("the message must name the holder and the way out: %v (%+v)", err, held.Holder)
	}
	if rep.Embedded+rep.FromCache != 0 || rep.Products != 0 {
		t.Errorf("the refused run did work before refusing: %+v", rep)
	}
	// Two fulls at once: the second refuses before embedding anything.
	rep, err = pipeline.Full(ctx, cfg)
	if !errors.Is(err, esindex.ErrLeaseHeld) || rep.Embedded+rep.FromCache != 0 {
		t.Errorf("second full: err %v, embedded %d+%d; want a refusal before any work", err, rep.Embedded, rep.FromCache)
	}
	// Another alias is not blocked.
	if _, err := pipeline.Incremental(ctx, otherCfg); err != nil {
		t.Errorf("incremental on another alias: %v", err)
	}

	stopFull()
	if err := <-fullDone; !errors.Is(err, context.Canceled) {
		t.Errorf("stopped full run: err %v, want context.Canceled", err)
	}
	if live, _ := esindex.AliasIndices(ctx, es, alias); !slices.Equal(live, []string{first.Index.Live}) {
		t.Errorf("alias on %v after the stopped run, want %s", live, first.Index.Live)
	}
	if _, held, _ := esindex.ReadLease(ctx, es, alias); held {
		t.Error("the stopped run did not release its lease")
	}
	if _, err := pipeline.Incremental(ctx, cfg); err != nil {
		t.Errorf("incremental after the full run stopped: %v", err)
	}
}

func TestWaitLockWaitsForTheHolderAndExpiredLeasesAreTakenOver(t *testing.T) {
	es := estest.Client(t)
	ctx := context.Background()
	alias := estest.IndexName(t, "waitlock")
	cfg := e2eConfig(t, alias)

	holder, err := esindex.AcquireLease(ctx, es, alias, esindex.LeaseOptions{Command: "test holder"})
	if err != nil {
		t.Fatal(err)
	}
	time.AfterFunc(2*time.Second, func() { holder.Release(context.Background()) })
	cfg.WaitLock = 2 * time.Minute
	if _, err := pipeline.Full(ctx, cfg); err != nil {
		t.Fatalf("with --wait-lock the run should wait for the holder to finish: %v", err)
	}

	// A lease whose holder died (expired, never renewed) is taken over.
	dead, err := esindex.AcquireLease(ctx, es, alias, esindex.LeaseOptions{Command: "dead run", TTL: 1500 * time.Millisecond,
		Now: func() time.Time { return time.Now().Add(-time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	_ = dead // never released: its process "died"
	cfg.WaitLock = 0
	if _, err := pipeline.Full(ctx, cfg); err != nil {
		t.Fatalf("an expired lease must be taken over: %v", err)
	}
}
