package bridge

import "time"

// workers runs client frame handling on goroutines that outlive one message,
// so that their stacks, once grown to what JSON decoding and router calls
// need, are reused instead of grown again for every message. The pool is
// elastic: a job that finds no idle worker gets a new one, so a handler
// blocked on a slow backend never delays anyone else; a worker idle for
// workerIdle ends.
type workers struct {
	jobs chan func() // unbuffered: a send succeeds only when a worker waits
}

// workerIdle is how long a worker waits for a job before it ends.
const workerIdle = 10 * time.Second

func newWorkers() *workers { return &workers{jobs: make(chan func())} }

// run hands job to an idle worker, or to a new one.
func (w *workers) run(job func()) {
	select {
	case w.jobs <- job:
	default:
		go w.work(job)
	}
}

func (w *workers) work(job func()) {
	job()
	idle := time.NewTimer(workerIdle)
	defer idle.Stop()
	for {
		select {
		case job := <-w.jobs:
			job()
			idle.Reset(workerIdle)
		case <-idle.C:
			return
		}
	}
}
