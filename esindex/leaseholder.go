package esindex

import (
	"errors"
	"os"
	"syscall"
	"time"
)

// Expired reports whether the lease had expired at now: its holder stopped
// renewing it, so any run may take it over. An unreadable expiry counts as
// expired, as AcquireLease treats it.
func (l LeaseInfo) Expired(now time.Time) bool {
	expires, err := time.Parse(time.RFC3339, l.ExpiresAt)
	return err != nil || !now.Before(expires)
}

// RunningHere reports whether the holder's process is alive on this host:
// the lease names this host and a process with its pid exists. essync unlock
// uses it to refuse breaking the lease of a run that is plainly alive. (A
// live lease was renewed within its TTL, so its pid being reused by another
// process already is unlikely; unlock --force covers that case.)
func (l LeaseInfo) RunningHere() bool {
	host, err := os.Hostname()
	if err != nil || l.Host != host || l.PID <= 0 {
		return false
	}
	return processAlive(l.PID)
}

// processAlive sends signal 0, which checks that pid exists without touching
// it; a process of another user answers EPERM and is alive too.
func processAlive(pid int) bool {
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	err = p.Signal(syscall.Signal(0))
	return err == nil || errors.Is(err, syscall.EPERM)
}
