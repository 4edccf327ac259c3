package fanout

import (
	"context"
	"time"
)

// commitLeaseTTL is how long a commit lease lasts unless its holder
// renews it, which it does every third of it while it commits. A holder
// that stops (crash, SIGSTOP) delays the next committer by at most this.
const commitLeaseTTL = 30 * time.Second

// leaseCommit takes job's commit lease (CommitLeaser) for one commit and
// keeps renewing it until release is called; ok is false when another
// committer holds it. At the end of a job every idle worker and Lambda
// invocation finds it ready to commit: without the lease each would read
// every marker and copy every file.
//
// The lease is not what makes committing safe (see CommitLeaser): a
// queue without one lets every caller commit; an error from the queue
// (Redis unreachable) is returned, and the caller decides whether to
// commit anyway; a renewal that finds the lease taken by another holder
// (this one was paused past its expiry) lets the commit go on, since two
// committers of one job publish the same files and one commit record.
func (e *Engine) leaseCommit(ctx context.Context, job string) (release func(), ok bool, err error) {
	l, has := e.cfg.Admin.(CommitLeaser)
	if !has {
		return func() {}, true, nil
	}
	holder := e.cfg.WorkerName + "/commit/" + randomHex(4)
	if ok, err := l.LeaseCommit(ctx, job, holder, commitLeaseTTL); err != nil || !ok {
		return func() {}, false, err
	}
	renew, stop := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(commitLeaseTTL / 3)
		defer t.Stop()
		for {
			select {
			case <-renew.Done():
				return
			case <-t.C:
			}
			if ok, err := l.LeaseCommit(renew, job, holder, commitLeaseTTL); err != nil {
				e.log.Debug("renewing the commit lease failed", "job", job, "err", err)
			} else if !ok {
				e.log.Info("commit lease taken by another committer; committing on (the commit record is created once)", "job", job)
				return
			}
		}
	}()
	return func() {
		stop()
		<-done
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := l.ReleaseCommit(rctx, job, holder); err != nil {
			e.log.Debug("releasing the commit lease failed; it expires", "job", job, "err", err)
		}
	}, true, nil
}
