package esindex

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
)

// LeaseIndex holds one lease document per alias (_id = the alias): the
// single writer of an alias, across hosts, is whoever holds its lease.
const LeaseIndex = "essync-leases"

// leaseTime is RFC 3339 in UTC with milliseconds: seconds are too coarse
// for short test TTLs.
const leaseTime = "2006-01-02T15:04:05.000Z07:00"

// LeaseInfo is the lease document. Times are RFC 3339 UTC.
type LeaseInfo struct {
	Alias     string `json:"alias"`
	RunID     string `json:"run_id"`
	Host      string `json:"host"`
	PID       int    `json:"pid"`
	Command   string `json:"command"`
	StartedAt string `json:"started_at"`
	RenewedAt string `json:"renewed_at"`
	ExpiresAt string `json:"expires_at"`
}

func (l LeaseInfo) String() string {
	return fmt.Sprintf("%s (pid %d on %s, started %s, lease expires %s)", l.Command, l.PID, l.Host, l.StartedAt, l.ExpiresAt)
}

// ErrLeaseHeld is returned (wrapped in a *LeaseHeldError) when another run
// holds the alias's lease.
var ErrLeaseHeld = errors.New("another essync run holds the lease on this alias")

// ErrLeaseLost is the cause of a lease's context when the lease was taken
// over or broken while the run still lived.
var ErrLeaseLost = errors.New("the lease on the alias was lost (broken with essync unlock, or taken over after it expired)")

// LeaseHeldError names the run that holds the lease.
type LeaseHeldError struct {
	Holder LeaseInfo
}

func (e *LeaseHeldError) Error() string {
	return fmt.Sprintf("alias %s is being written by %s; wait for it (--wait-lock), or if that run is dead, run: essync unlock --index %s",
		e.Holder.Alias, e.Holder, e.Holder.Alias)
}

func (e *LeaseHeldError) Unwrap() error { return ErrLeaseHeld }

// LeaseOptions tunes AcquireLease. Zero values pick the defaults.
type LeaseOptions struct {
	Command string        // what the holder runs, e.g. "essync full"
	TTL     time.Duration // lease lifetime without renewal; default 60s (renewed every TTL/3)
	Wait    time.Duration // how long to wait for a held lease; 0 = fail at once
	Now     func() time.Time
}

// Lease is a held lease, renewed in the background until Release.
type Lease struct {
	es    *elasticsearch.Client
	info  LeaseInfo
	ttl   time.Duration
	now   func() time.Time
	ctx   context.Context // cancelled with ErrLeaseLost when the lease is lost
	lose  context.CancelCauseFunc
	mu    sync.Mutex
	seqNo int
	term  int
	stop  chan struct{}
	done  chan struct{}
	// renewed is when the lease was last written successfully (monotonic
	// clock), what the renewal retries count from; guarded by mu.
	renewed time.Time
	once    sync.Once
}

// AcquireLease takes alias's lease with an atomic create. A lease that has
// expired is taken over with a write guarded by its seq_no and primary term,
// so two runs taking over at once cannot both win. A held lease is waited
// for up to opts.Wait, polling; then a *LeaseHeldError names its holder.
// The returned lease is renewed in the background; its Context is cancelled
// if it is lost.
func AcquireLease(ctx context.Context, es *elasticsearch.Client, alias string, opts LeaseOptions) (*Lease, error) {
	if opts.TTL <= 0 {
		opts.TTL = 60 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	host, _ := os.Hostname()
	now := opts.Now().UTC()
	l := &Lease{es: es, ttl: opts.TTL, now: opts.Now, stop: make(chan struct{}), done: make(chan struct{})}
	l.info = LeaseInfo{Alias: alias, RunID: randomID(), Host: host, PID: os.Getpid(), Command: opts.Command,
		StartedAt: now.Format(leaseTime)}
	if err := ensureLeaseIndex(ctx, es); err != nil {
		return nil, err
	}
	waitUntil := time.Now().Add(opts.Wait)
	for attempt := 0; ; attempt++ {
		ok, holder, err := l.tryTake(ctx)
		if err != nil {
			return nil, err
		}
		if ok {
			break
		}
		if time.Now().After(waitUntil) {
			return nil, &LeaseHeldError{Holder: holder}
		}
		if attempt == 0 {
			slog.Info("waiting for the lease on the alias", "alias", alias, "holder", holder.String(), "wait", opts.Wait)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(min(time.Second, time.Until(waitUntil)+10*time.Millisecond)):
		}
	}
	l.renewed = time.Now()
	l.ctx, l.lose = context.WithCancelCause(context.Background())
	go l.renewLoop()
	return l, nil
}

// tryTake creates the lease, or takes over an expired one. It returns the
// current holder when the lease is held.
func (l *Lease) tryTake(ctx context.Context) (bool, LeaseInfo, error) {
	l.stamp()
	body, _ := json.Marshal(l.info)
	res, err := l.es.Create(LeaseIndex, l.info.Alias, bytes.NewReader(body), l.es.Create.WithContext(ctx))
	if err != nil {
		return false, LeaseInfo{}, fmt.Errorf("take the lease on %s: %w", l.info.Alias, err)
	}
	var w writeResult
	if err := decode(res, &w); err == nil {
		l.seqNo, l.term = w.SeqNo, w.PrimaryTerm
		return true, LeaseInfo{}, nil
	} else if !isStatus(err, 409) {
		return false, LeaseInfo{}, fmt.Errorf("take the lease on %s: %w", l.info.Alias, err)
	}
	holder, seqNo, term, found, err := readLease(ctx, l.es, l.info.Alias)
	if err != nil {
		return false, LeaseInfo{}, err
	}
	if !found { // released between our create and our read
		return l.tryTake(ctx)
	}
	if holder.RunID == l.info.RunID {
		// Our own create, applied by the node but answered too late or not
		// at all; the client sent it again and got 409.
		l.seqNo, l.term = seqNo, term
		return true, LeaseInfo{}, nil
	}
	expires, perr := time.Parse(time.RFC3339, holder.ExpiresAt)
	if perr == nil && l.now().Before(expires) {
		return false, holder, nil
	}
	slog.Warn("taking over an expired lease", "alias", l.info.Alias, "holder", holder.String())
	ok, err := l.write(ctx, seqNo, term)
	return ok, holder, err
}

// write stores the lease guarded by seqNo/term; false means someone else
// changed it first.
func (l *Lease) write(ctx context.Context, seqNo, term int) (bool, error) {
	body, _ := json.Marshal(l.info)
	res, err := l.es.Index(LeaseIndex, bytes.NewReader(body), l.es.Index.WithDocumentID(l.info.Alias),
		l.es.Index.WithIfSeqNo(seqNo), l.es.Index.WithIfPrimaryTerm(term), l.es.Index.WithContext(ctx))
	if err != nil {
		return false, fmt.Errorf("write the lease on %s: %w", l.info.Alias, err)
	}
	var w writeResult
	if err := decode(res, &w); err != nil {
		if isStatus(err, 409) || isStatus(err, 404) {
			// Ours if the first attempt was applied and its answer lost.
			info, seqNo, term, found, rerr := readLease(ctx, l.es, l.info.Alias)
			if rerr == nil && found && info.RunID == l.info.RunID {
				l.seqNo, l.term = seqNo, term
				return true, nil
			}
			return false, nil
		}
		return false, fmt.Errorf("write the lease on %s: %w", l.info.Alias, err)
	}
	l.seqNo, l.term = w.SeqNo, w.PrimaryTerm
	return true, nil
}

func (l *Lease) stamp() {
	now := l.now().UTC()
	l.info.RenewedAt = now.Format(leaseTime)
	l.info.ExpiresAt = now.Add(l.ttl).Format(leaseTime)
}

// renewLoop renews the lease every TTL/3 until Release; if a renewal finds
// the lease changed by someone else, the lease is lost.
func (l *Lease) renewLoop() {
	defer close(l.done)
	tick := time.NewTicker(l.ttl / 3)
	defer tick.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-tick.C:
		}
		if !l.renew() {
			slog.Error("lost the lease on the alias: another run took it or it was broken", "alias", l.info.Alias)
			l.lose(ErrLeaseLost)
			return
		}
	}
}

// renew renews the lease, retrying attempts that fail (a busy node, a lost
// answer) every second until shortly before the lease would expire: each
// attempt gets up to a renewal period, and the retries end a sixth of the
// lease's lifetime before its expiry. It reports false only when the lease
// was taken or broken by someone else.
func (l *Lease) renew() bool {
	period := l.ttl / 3
	l.mu.Lock()
	until := l.renewed.Add(l.ttl * 5 / 6) // Check also renews
	l.mu.Unlock()
	for {
		attempt := min(period, time.Until(until))
		ok, err := l.renewOnce(max(attempt, 100*time.Millisecond))
		if err == nil {
			return ok
		}
		slog.Warn("could not renew the lease; trying again", "alias", l.info.Alias, "err", err)
		pause := min(time.Second, period/6)
		if time.Now().Add(pause).After(until) {
			return true // the next regular renewal tries again, guarded by seq_no
		}
		select {
		case <-l.stop:
			return true
		case <-time.After(pause):
		}
	}
}

// renewOnce makes one guarded renewal bounded by timeout. An error means
// the outcome is unknown; the stored lease's seq_no is then adopted if it
// is still ours, so the next attempt is guarded correctly.
func (l *Lease) renewOnce(timeout time.Duration) (bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.stamp()
	ok, err := l.write(ctx, l.seqNo, l.term)
	if err == nil && !ok && l.resync(context.Background()) {
		ok = true // our own earlier renewal was applied though its answer was lost
	}
	if err != nil {
		l.resync(context.Background())
	}
	if err == nil && ok {
		l.renewed = time.Now()
	}
	return ok, err
}

// resync adopts the stored lease's seq_no and primary term when it is still
// ours (same run id): a write whose answer was lost may have been applied.
// It reports whether the lease is ours. The caller holds l.mu.
func (l *Lease) resync(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	info, seqNo, term, found, err := readLease(ctx, l.es, l.info.Alias)
	if err != nil || !found || info.RunID != l.info.RunID {
		return false
	}
	l.seqNo, l.term = seqNo, term
	return true
}

// deleteOnce deletes the lease guarded by the current seq_no.
func (l *Lease) deleteOnce(ctx context.Context) error {
	res, err := l.es.Delete(LeaseIndex, l.info.Alias, l.es.Delete.WithIfSeqNo(l.seqNo), l.es.Delete.WithIfPrimaryTerm(l.term), l.es.Delete.WithContext(ctx))
	if err != nil {
		return fmt.Errorf("release the lease on %s: %w", l.info.Alias, err)
	}
	if err := decode(res, nil); err != nil && !isStatus(err, 404) {
		return fmt.Errorf("release the lease on %s: %w", l.info.Alias, err)
	}
	return nil
}

// Context is cancelled, with cause ErrLeaseLost, if the lease is lost.
func (l *Lease) Context() context.Context { return l.ctx }

// Info returns the lease document as last written.
func (l *Lease) Info() LeaseInfo {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.info
}

// Check renews the lease now and fails if it is no longer held: called right
// before publishing, so a run that lost its lease never moves the alias.
func (l *Lease) Check(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := context.Cause(l.ctx); err != nil {
		return err
	}
	// A busy node may time a write out; the guarded write is the only
	// proof, so it is retried for up to one lease lifetime.
	until := time.Now().Add(l.ttl)
	for {
		l.stamp()
		attempt, cancel := context.WithTimeout(ctx, max(l.ttl/3, 100*time.Millisecond))
		ok, err := l.write(attempt, l.seqNo, l.term)
		cancel()
		if err == nil && !ok && l.resync(ctx) {
			ok = true // an earlier write of ours was applied though its answer was lost
		}
		if err == nil {
			if !ok {
				l.lose(ErrLeaseLost)
				return ErrLeaseLost
			}
			l.renewed = time.Now()
			return nil
		}
		l.resync(ctx)
		if ctx.Err() != nil || time.Now().After(until) {
			return err
		}
		slog.Warn("could not confirm the lease; trying again", "alias", l.info.Alias, "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(min(time.Second, l.ttl/9)):
		}
	}
}

// Release stops renewing and deletes the lease if it is still ours. It is
// safe to call more than once and works after ctx was cancelled.
func (l *Lease) Release(ctx context.Context) error {
	var err error
	l.once.Do(func() {
		close(l.stop)
		<-l.done
		l.mu.Lock()
		defer l.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		res, e := l.es.Delete(LeaseIndex, l.info.Alias, l.es.Delete.WithIfSeqNo(l.seqNo), l.es.Delete.WithIfPrimaryTerm(l.term),
			l.es.Delete.WithContext(ctx))
		if e != nil {
			err = fmt.Errorf("release the lease on %s: %w", l.info.Alias, e)
			return
		}
		if e := decode(res, nil); isStatus(e, 409) && l.resync(ctx) {
			err = l.deleteOnce(ctx) // a renewal was applied though its answer was lost
		} else if e != nil && !isStatus(e, 404) && !isStatus(e, 409) {
			err = fmt.Errorf("release the lease on %s: %w", l.info.Alias, e)
		}
		l.lose(context.Canceled)
	})
	return err
}

type writeResult struct {
	SeqNo       int `json:"_seq_no"`
	PrimaryTerm int `json:"_primary_term"`
}

func randomID() string {
	var b [8]byte
	if _, err := cryptoRand(b[:]); err != nil {
		return fmt.Sprint(time.Now().UnixNano())
	}
	return fmt.Sprintf("%x", b)
}

var cryptoRand = rand.Read
