package actors

import (
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"
)

// workers is the dispatcher of etaxd's actors: it runs a mailbox's
// messages on a goroutine that already ran some, instead of a new one per
// run as protoactor's default does. A new goroutine starts on a 2 KB stack
// and grows it on every change (the runtime copies it), which took 7–9 %
// of the CPU of a state change (docs/PERFORMANCE.md (a)); a worker's stack
// stays grown.
//
// Schedule never blocks: an idle worker takes the run, else a new worker
// starts. A worker that finds nothing to run waits for the next one unless
// maxIdle workers already wait, then it ends: the pool follows the load,
// never holding more than maxIdle goroutines idle.
type workers struct {
	throughput int
	maxIdle    int32
	idle       atomic.Int32
	runs       chan func()   // unbuffered: a send succeeds only into a waiting worker
	done       chan struct{} // closed by stop: idle workers end
	stopped    atomic.Bool
}

var _ actor.Dispatcher = (*workers)(nil)

// mailboxThroughput is protoactor's default: the messages a mailbox
// processes in one run before it lets others go. maxIdleWorkers bounds the
// pool's idle goroutines.
const (
	mailboxThroughput = 300
	maxIdleWorkers    = 256
)

// dispatch is the props option that puts an actor on d's workers.
func (d *deps) dispatch() actor.PropsOption { return actor.WithDispatcher(d.workers) }

func newWorkers(throughput, maxIdle int) *workers {
	return &workers{throughput: throughput, maxIdle: int32(maxIdle), runs: make(chan func()), done: make(chan struct{})}
}

// stop ends the idle workers; runs scheduled later get a goroutine each.
func (w *workers) stop() {
	if w.stopped.CompareAndSwap(false, true) {
		close(w.done)
	}
}

// Schedule implements actor.Dispatcher.
func (w *workers) Schedule(fn func()) {
	select {
	case w.runs <- fn:
	default:
		go w.work(fn)
	}
}

// Throughput implements actor.Dispatcher: how many messages a mailbox
// processes before it yields.
func (w *workers) Throughput() int { return w.throughput }

func (w *workers) work(fn func()) {
	for {
		fn()
		if w.idle.Add(1) > w.maxIdle {
			w.idle.Add(-1)
			return
		}
		select {
		case fn = <-w.runs:
			w.idle.Add(-1)
		case <-w.done:
			w.idle.Add(-1)
			return
		}
	}
}
