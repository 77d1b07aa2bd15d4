package natsbus

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Runner feeds the messages of one durable pull consumer to a pool of
// workers. It can be stopped and started again; while it is stopped the
// messages wait in the stream. Create it with NewRunner.
type Runner struct {
	cons    jetstream.Consumer
	handle  func(ctx context.Context, m jetstream.Msg)
	workers int
	log     *slog.Logger
	errs    RateLog

	mu  sync.Mutex
	run *running // nil while stopped
}

// running is one Start..Stop period.
type running struct {
	cc     jetstream.ConsumeContext
	work   chan jetstream.Msg
	quit   chan struct{}
	wg     sync.WaitGroup
	cancel context.CancelFunc
}

// NewRunner returns a stopped Runner that hands cons's messages to handle
// on workers goroutines and logs consumer errors to log.
func NewRunner(cons jetstream.Consumer, handle func(ctx context.Context, m jetstream.Msg), workers int, log *slog.Logger) *Runner {
	return &Runner{cons: cons, handle: handle, workers: workers, log: log}
}

// drainTimeout bounds how long stop waits for buffered messages to be
// handed out; what is left then is redelivered after AckWait.
const drainTimeout = 30 * time.Second

// Start begins consuming. It is a no-op when already running.
func (r *Runner) Start() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.run != nil {
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	run := &running{work: make(chan jetstream.Msg), quit: make(chan struct{}), cancel: cancel}
	for range r.workers {
		run.wg.Add(1)
		go func() {
			defer run.wg.Done()
			for {
				select {
				case m := <-run.work:
					r.handle(ctx, m)
				case <-run.quit:
					return
				}
			}
		}()
	}
	cc, err := r.cons.Consume(func(m jetstream.Msg) {
		// The subscription's goroutine waits for a free worker: the server
		// holds back what the client has not asked for, so another instance
		// can take it.
		select {
		case run.work <- m:
		case <-run.quit:
		}
	},
		// Buffer little in the client: a buffered message is invisible to
		// the other instances until its AckWait expires.
		jetstream.PullMaxMessages(max(2*r.workers, 4)),
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			if errors.Is(err, jetstream.ErrNoHeartbeat) || errors.Is(err, jetstream.ErrConnectionClosed) {
				r.errs.Warn(r.log, "NATS consumer", "err", err)
				return
			}
			r.log.Debug("NATS consumer", "err", err)
		}))
	if err != nil {
		close(run.quit)
		run.wg.Wait()
		cancel()
		return err
	}
	run.cc = cc
	r.run = run
	return nil
}

// Stop stops fetching, lets the workers finish the messages already
// received, and waits for them. It is a no-op when stopped.
func (r *Runner) Stop() {
	r.mu.Lock()
	run := r.run
	r.run = nil
	r.mu.Unlock()
	if run == nil {
		return
	}
	run.cc.Drain()
	t := time.NewTimer(drainTimeout)
	select {
	case <-run.cc.Closed():
	case <-t.C:
		r.log.Warn("NATS consumer did not drain in time; its buffered messages are redelivered after AckWait")
	}
	t.Stop()
	close(run.quit)
	run.wg.Wait()
	run.cancel()
}

// Started reports whether the runner is started.
func (r *Runner) Started() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.run != nil
}
