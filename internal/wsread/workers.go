package wsread

import "time"

// Workers runs Readers' jobs (reading and handling one message) on
// goroutines that outlive one message, so that their stacks, once grown to
// what gorilla, JSON decoding and router calls need, are reused instead of
// grown again for every message. The pool is elastic: a job that finds no
// idle worker gets a new one, so a handler blocked on a slow backend never
// delays anyone else; a worker idle for workerIdle ends. A server has one
// for all its connections.
type Workers struct {
	jobs chan func() // unbuffered: a send succeeds only when a worker waits
}

// workerIdle is how long a worker waits for a job before it ends.
const workerIdle = 10 * time.Second

// NewWorkers returns an empty pool.
func NewWorkers() *Workers { return &Workers{jobs: make(chan func())} }

// Run hands job to an idle worker, or to a new one.
func (w *Workers) Run(job func()) {
	select {
	case w.jobs <- job:
	default:
		go w.work(job)
	}
}

func (w *Workers) work(job func()) {
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
