package esindex_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/essync/essync/esindex"
	"github.com/essync/essync/esindex/estest"
)

func TestLeaseIsExclusiveRenewedReleasedAndBroken(t *testing.T) {
	es := estest.Client(t)
	ctx := context.Background()
	alias := estest.IndexName(t, "lease")
	a, err := esindex.AcquireLease(ctx, es, alias, esindex.LeaseOptions{Command: "essync full", TTL: 1500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	first := a.Info()
	time.Sleep(2 * time.Second) // past the first TTL: only renewal keeps it
	_, err = esindex.AcquireLease(ctx, es, alias, esindex.LeaseOptions{Command: "essync incremental"})
	var held *esindex.LeaseHeldError
	if !errors.As(err, &held) || held.Holder.RunID != first.RunID || held.Holder.Command != "essync full" {
		t.Fatalf("second acquire: err %v, want the lease held by the renewed first run", err)
	}
	if held.Holder.RenewedAt == first.RenewedAt && held.Holder.ExpiresAt == first.ExpiresAt {
		t.Errorf("the lease was not renewed: %+v", held.Holder)
	}
	other, err := esindex.AcquireLease(ctx, es, alias+"-other", esindex.LeaseOptions{})
	if err != nil {
		t.Fatalf("another alias is blocked: %v", err)
	}
	other.Release(ctx)

	if err := a.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if _, found, err := esindex.ReadLease(ctx, es, alias); err != nil || found {
		t.Fatalf("after release: found %v err %v", found, err)
	}

	// A broken lease is lost: its holder's context ends with ErrLeaseLost
	// and Check fails, so it never publishes. The TTL is long so that no
	// renewal falls between the break's read and its guarded delete (with
	// 900 ms one did on a loaded machine, and the break was refused).
	b, err := esindex.AcquireLease(ctx, es, alias, esindex.LeaseOptions{TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Release(ctx)
	if info, found, err := esindex.BreakLease(ctx, es, alias); err != nil || !found || info.RunID != b.Info().RunID {
		t.Fatalf("break: %+v %v %v", info, found, err)
	}
	if err := b.Check(ctx); !errors.Is(err, esindex.ErrLeaseLost) {
		t.Errorf("check after the lease was broken: %v, want ErrLeaseLost", err)
	}
	select {
	case <-b.Context().Done():
	case <-time.After(10 * time.Second):
		t.Error("the broken lease's context was not cancelled")
	}
}

func TestExpiredLeaseIsTakenOverByExactlyOneRun(t *testing.T) {
	es := estest.Client(t)
	ctx := context.Background()
	alias := estest.IndexName(t, "takeover")
	past := func() time.Time { return time.Now().Add(-time.Hour) }
	if _, err := esindex.AcquireLease(ctx, es, alias, esindex.LeaseOptions{Command: "dead run", TTL: time.Minute, Now: past}); err != nil {
		t.Fatal(err)
	}
	const runs = 6
	var wg sync.WaitGroup
	won := make(chan *esindex.Lease, runs)
	errs := make(chan error, runs)
	for range runs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l, err := esindex.AcquireLease(ctx, es, alias, esindex.LeaseOptions{Command: "contender"})
			if err != nil {
				errs <- err
				return
			}
			won <- l
		}()
	}
	wg.Wait()
	close(won)
	close(errs)
	var winners []*esindex.Lease
	for l := range won {
		winners = append(winners, l)
		defer l.Release(ctx)
	}
	if len(winners) != 1 {
		t.Fatalf("%d runs took over the expired lease, want exactly 1", len(winners))
	}
	for err := range errs {
		if !errors.Is(err, esindex.ErrLeaseHeld) {
			t.Errorf("loser: %v, want ErrLeaseHeld", err)
		}
	}
}

// TestLeaseCreateAppliedButUnansweredIsOurs: the node applies the lease's
// create but the answer is lost (a dropped connection, a timeout), so the
// client sends it again and gets 409. The lease names our own run: it is
// ours, not "held by" ourselves (seen once in CI on a stalling node).
func TestLeaseCreateAppliedButUnansweredIsOurs(t *testing.T) {
	ctx := context.Background()
	estest.Client(t) // fails in CI when the node is missing
	alias := estest.IndexName(t, "leasedrop")
	proxy := estest.NewFaultProxy(t, estest.URL(), []estest.Fault{estest.DropAfter})
	proxy.Paths = []string{"/_create/" + alias}
	es, err := esindex.NewClient(esindex.Config{URLs: []string{proxy.URL}, MaxRetries: 2})
	if err != nil {
		t.Fatal(err)
	}
	l, err := esindex.AcquireLease(ctx, es, alias, esindex.LeaseOptions{Command: "essync full"})
	if err != nil {
		t.Fatalf("acquire after an applied but unanswered create: %v", err)
	}
	defer l.Release(ctx)
	if proxy.Count(estest.DropAfter) != 1 {
		t.Fatalf("the create's answer was dropped %d times, want 1: the test did not exercise the fault", proxy.Count(estest.DropAfter))
	}
	info, found, err := esindex.ReadLease(ctx, estest.Client(t), alias)
	if err != nil || !found || info.RunID != l.Info().RunID {
		t.Fatalf("stored lease %+v found %v err %v, want run %s", info, found, err, l.Info().RunID)
	}
}

// TestLeaseRenewalRetriesBeforeTheLeaseExpires: a renewal that fails (here
// dropped connections, as from a node too busy to answer) is retried within
// about a second, not a renewal period later. A failed renewal is a write
// and a read of the stored lease, each with one client retry: eight drops
// fail the regular renewals at 2 s and 4 s, so without the retries the
// stored lease would still carry its first stamp at 5 s, one second before
// it lapses; with them it was renewed around 4 s.
func TestLeaseRenewalRetriesBeforeTheLeaseExpires(t *testing.T) {
	ctx := context.Background()
	direct := estest.Client(t)
	alias := estest.IndexName(t, "leaseretry")
	drops := make([]estest.Fault, 8)
	for i := range drops {
		drops[i] = estest.DropBefore
	}
	proxy := estest.NewFaultProxy(t, estest.URL(), drops)
	proxy.Paths = []string{"/_doc/" + alias}
	es, err := esindex.NewClient(esindex.Config{URLs: []string{proxy.URL}, MaxRetries: 1})
	if err != nil {
		t.Fatal(err)
	}
	const ttl = 6 * time.Second
	l, err := esindex.AcquireLease(ctx, es, alias, esindex.LeaseOptions{Command: "essync full", TTL: ttl})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release(ctx)
	first := l.Info()
	time.Sleep(5 * time.Second)
	if n := proxy.Count(estest.DropBefore); n != len(drops) {
		t.Fatalf("%d lease requests dropped, want %d: the test did not exercise the fault", n, len(drops))
	}
	stored, found, err := esindex.ReadLease(ctx, direct, alias)
	if err != nil || !found || stored.RunID != first.RunID {
		t.Fatalf("stored lease %+v found %v err %v, want the first run's", stored, found, err)
	}
	if stored.RenewedAt == first.RenewedAt {
		t.Fatalf("the lease was not renewed in its first 5 s (still %s, expires %s): failed renewals were not retried", stored.RenewedAt, stored.ExpiresAt)
	}
	if err := context.Cause(l.Context()); err != nil {
		t.Fatalf("the run lost its lease: %v", err)
	}
	if err := l.Check(ctx); err != nil {
		t.Fatalf("check before the swap: %v", err)
	}
}
