package membership

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/cluster"
	"github.com/nats-io/nats.go/jetstream"
)

// Provider is a protoactor-go cluster.ClusterProvider on a JetStream KV
// bucket. Create it with New, hand it to cluster.Configure, and read its
// Snapshot for an ops endpoint. One Provider serves one cluster member (or
// client) once.
type Provider struct {
	cfg Config
	kv  jetstream.KeyValue
	log *slog.Logger

	// Set by start, then read-only.
	c      *cluster.Cluster
	self   Record
	value  []byte
	client bool
	stop   chan struct{}
	done   chan struct{}

	// Owned by the heartbeat goroutine.
	rev        uint64 // own key's last stored revision
	tr         *tracker
	candidates map[string]bool // peer ids the watch announced, not yet read
	watcher    jetstream.KeyWatcher
	watchEnded atomic.Bool
	failures   int // consecutive failed beats
	pushed     bool
	pushedIDs  map[string]bool // ids of the member set last pushed to protoactor

	hmu   sync.Mutex
	hints map[string]bool // from the watch: id → key present (put) or gone (delete)

	stopOnce sync.Once
	mu       sync.Mutex // guards view
	view     view
}

// New validates cfg, waits for a JetStream meta leader and opens (creating
// it if needed) the member bucket, all within cfg.StartTimeout. It does
// this before the cluster starts because protoactor's StartMember panics on
// a provider error.
func New(ctx context.Context, js jetstream.JetStream, cfg Config) (*Provider, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.StartTimeout)
	defer cancel()
	kv, err := openBucket(ctx, js, cfg)
	if err != nil {
		return nil, err
	}
	return &Provider{cfg: cfg, kv: kv, log: cfg.Logger.With("component", "membership", "node", cfg.Name),
		hints: map[string]bool{}, candidates: map[string]bool{}, tr: newTracker(cfg.MissedBeats),
		view: view{lastOf: map[string]time.Time{}}}, nil
}

// StartMember writes this member's record (create-only, retried within
// StartTimeout) and starts the heartbeat. It implements
// cluster.ClusterProvider.
func (p *Provider) StartMember(c *cluster.Cluster) error { return p.start(c, false) }

// StartClient follows the membership without a record of its own. It
// implements cluster.ClusterProvider.
func (p *Provider) StartClient(c *cluster.Cluster) error { return p.start(c, true) }

func (p *Provider) start(c *cluster.Cluster, client bool) error {
	p.mu.Lock()
	if p.view.started {
		p.mu.Unlock()
		return ErrStarted
	}
	p.view.started = true
	p.c = c
	p.mu.Unlock()
	host, port, err := c.ActorSystem.GetHostPort()
	if err != nil {
		return fmt.Errorf("membership: address of the actor system: %w", err)
	}
	p.client = client
	p.self = Record{ID: c.ActorSystem.ID, Name: p.cfg.Name, Cluster: c.Config.Name, Host: host, Port: port,
		Kinds: c.GetClusterKinds(), Joined: p.cfg.Clock.Now()}
	p.value = p.self.encode()
	if !client {
		if err := p.create(); err != nil {
			return err
		}
	}
	p.mu.Lock()
	p.view.client = client
	p.view.self = p.self
	p.view.lastAck = p.cfg.Clock.Now()
	p.mu.Unlock()
	p.startWatch()
	p.stop, p.done = make(chan struct{}), make(chan struct{})
	go p.run()
	p.log.Info("membership started", "id", p.self.ID, "address", p.self.Address(), "client", client,
		"period", p.cfg.Period, "ttl", p.cfg.TTL())
	return nil
}

// create writes the first record with a create-only put, retried with 1 s
// attempts; a retry that finds the key holding this very record adopts it
// (the earlier attempt was stored, its acknowledgement lost).
func (p *Provider) create() error {
	ctx, cancel := context.WithTimeout(context.Background(), p.cfg.StartTimeout)
	defer cancel()
	for {
		actx, acancel := context.WithTimeout(ctx, attempt)
		rev, err := p.kv.Create(actx, p.self.ID, p.value)
		if errors.Is(err, jetstream.ErrKeyExists) {
			var e jetstream.KeyValueEntry
			if e, err = p.kv.Get(actx, p.self.ID); err == nil {
				if r, derr := decodeRecord(e.Value()); derr == nil && r.ID == p.self.ID && r.Joined.Equal(p.self.Joined) {
					rev = e.Revision()
				} else {
					err = fmt.Errorf("key %s holds another record", p.self.ID)
				}
			}
		}
		acancel()
		if err == nil {
			p.rev = rev
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("membership: write the member record of %s: %w", p.self.ID, err)
		}
		if perr := pause(ctx, p.cfg.Clock, attempt/10); perr != nil {
			return fmt.Errorf("membership: write the member record of %s: %w", p.self.ID, err)
		}
	}
}

// Shutdown stops the heartbeat and, unless this node was evicted or is a
// client, deletes its record (a graceful leave the others see through their
// watch). It implements cluster.ClusterProvider.
func (p *Provider) Shutdown(graceful bool) error {
	var err error
	p.stopOnce.Do(func() {
		if p.stop == nil {
			return // never started
		}
		close(p.stop)
		<-p.done
		if p.watcher != nil {
			_ = p.watcher.Stop()
		}
		p.mu.Lock()
		evicted := p.view.evicted
		p.view.stopped = true
		p.mu.Unlock()
		if evicted || p.client {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*p.cfg.OpTimeout)
		defer cancel()
		if derr := p.kv.Delete(ctx, p.self.ID, jetstream.LastRevision(p.rev)); derr != nil {
			err = fmt.Errorf("membership: delete the member record of %s: %w", p.self.ID, derr)
		}
		p.log.Info("membership stopped", "graceful", graceful, "error", err)
	})
	return err
}

// startWatch (re)starts the watch of the bucket. The watch only announces
// joins and graceful leaves; liveness comes from reads.
func (p *Provider) startWatch() {
	w, err := p.kv.WatchAll(context.Background())
	if err != nil {
		p.log.Warn("membership: watch not started; retrying next beat", "error", err)
		return
	}
	p.watcher = w
	p.watchEnded.Store(false)
	go func() {
		for e := range w.Updates() {
			if e == nil || e.Key() == p.self.ID {
				continue
			}
			p.hmu.Lock()
			p.hints[e.Key()] = e.Operation() == jetstream.KeyValuePut
			p.hmu.Unlock()
		}
		p.watchEnded.Store(true)
	}()
}

// run is the heartbeat goroutine. OnEvicted is called after done is
// closed, so it may call Shutdown.
func (p *Provider) run() {
	err := p.loop()
	close(p.done)
	if err != nil {
		p.log.Error("membership: this node was evicted: its member key was deleted by a peer that saw it silent for longer than the TTL; it must exit and restart with a fresh id",
			"id", p.self.ID, "ttl", p.cfg.TTL(), "error", err)
		if p.cfg.OnEvicted != nil {
			p.cfg.OnEvicted(err)
		}
	}
}

// loop beats every Period until stop; it returns the eviction, if any.
func (p *Provider) loop() error {
	next := p.cfg.Clock.Now()
	for {
		now := p.cfg.Clock.Now()
		next = next.Add(p.cfg.Period)
		if next.Before(now) {
			next = now // late (paused, starved): beat now, do not catch up
		}
		if !p.waitUntil(next) {
			return nil
		}
		if p.watcher == nil || p.watchEnded.Load() {
			p.startWatch()
		}
		if p.client {
			p.readPeers()
			continue
		}
		acked, evicted := p.beat()
		switch {
		case evicted != nil:
			p.mu.Lock()
			p.view.evicted = true
			p.view.counters.Evictions++
			p.mu.Unlock()
			return evicted
		case acked:
			p.readPeers()
		}
	}
}

// waitUntil waits for t on the clock, and reports false when stopped.
func (p *Provider) waitUntil(t time.Time) bool {
	ch := make(chan struct{})
	timer := p.cfg.Clock.AfterFunc(t.Sub(p.cfg.Clock.Now()), func() { close(ch) })
	select {
	case <-ch:
		return true
	case <-p.stop:
		timer.Stop()
		return false
	}
}

// beat rewrites this node's record with a revision-checked Update. It
// reports whether the write was stored (acked), or the eviction: the key
// was deleted, which only a peer that dropped this node does. Any other
// failure (timeout, no responders: a KV outage) acknowledges nothing, so
// the caller reads no peers and counts no staleness: membership freezes.
func (p *Provider) beat() (acked bool, evicted error) {
	ctx, cancel := context.WithTimeout(context.Background(), p.cfg.OpTimeout)
	defer cancel()
	rev, err := p.kv.Update(ctx, p.self.ID, p.value, p.rev)
	if errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		gctx, gcancel := context.WithTimeout(context.Background(), p.cfg.OpTimeout)
		e, gerr := p.kv.Get(gctx, p.self.ID)
		gcancel()
		switch {
		case errors.Is(gerr, jetstream.ErrKeyNotFound):
			return false, fmt.Errorf("%w: member key %s was deleted (last own revision %d)", ErrEvicted, p.self.ID, p.rev)
		case gerr != nil:
			err = errors.Join(err, gerr)
		case e.Revision() > p.rev && string(e.Value()) == string(p.value):
			rev, err = e.Revision(), nil // an earlier Update was stored, its acknowledgement lost
		case e.Revision() <= p.rev:
			// A read no newer than our own last write: a stream leader that
			// is not current yet (an election, a replica catching up). It
			// proves nothing: this beat is not acknowledged, the next one
			// asks again.
			err = fmt.Errorf("membership: member key %s read at revision %d, ours is %d: stale read", p.self.ID, e.Revision(), p.rev)
		default:
			return false, fmt.Errorf("%w: member key %s holds revision %d not written by this node", ErrEvicted, p.self.ID, e.Revision())
		}
	}
	now := p.cfg.Clock.Now()
	if err != nil {
		p.failures++
		p.mu.Lock()
		p.view.counters.BeatsFailed++
		p.mu.Unlock()
		if p.failures == 1 || p.failures%20 == 0 {
			p.log.Warn("membership: heartbeat not stored; membership frozen until it is", "failures", p.failures, "error", err)
		}
		return false, nil
	}
	if p.failures > 0 {
		p.log.Info("membership: heartbeats stored again", "after_failures", p.failures)
		p.failures = 0
	}
	p.rev = rev
	p.mu.Lock()
	p.view.lastAck = now
	p.view.counters.BeatsAcked++
	p.mu.Unlock()
	return true, nil
}

// readPeers reads every peer key once (after an acknowledged own beat),
// feeds the tracker, deletes the keys of peers that stood still for the
// TTL, and pushes the member set to protoactor when it changed. A read
// that fails (not "not found") discards the whole round: no staleness is
// counted from a partial view.
func (p *Provider) readPeers() {
	var left []string
	p.hmu.Lock()
	for id, present := range p.hints {
		switch {
		case present && !p.tr.isGone(id):
			p.candidates[id] = true
		case !present:
			delete(p.candidates, id)
			if p.tr.leave(id) {
				left = append(left, id)
			}
		}
	}
	clear(p.hints)
	p.hmu.Unlock()

	ids := p.tr.ids()
	for id := range p.candidates {
		if _, known := p.tr.peers[id]; !known {
			ids = append(ids, id)
		}
	}
	obs := make([]observation, 0, len(ids))
	for _, id := range ids {
		ctx, cancel := context.WithTimeout(context.Background(), p.cfg.OpTimeout)
		e, err := p.kv.Get(ctx, id)
		cancel()
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
			obs = append(obs, observation{id: id, gone: true})
		case err != nil:
			p.log.Debug("membership: peer read failed; round discarded", "peer", id, "error", err)
			p.publish(left, nil, nil)
			return
		default:
			r, derr := decodeRecord(e.Value())
			if derr != nil || r.ID != id || r.Cluster != p.self.Cluster {
				delete(p.candidates, id) // not a member of this cluster
				continue
			}
			obs = append(obs, observation{id: id, rec: r, rev: e.Revision()})
		}
	}
	for _, o := range obs {
		delete(p.candidates, o.id)
	}
	v := p.tr.observe(p.cfg.Clock.Now(), obs)
	var dropped []string
	for id, rev := range v.expired {
		ctx, cancel := context.WithTimeout(context.Background(), p.cfg.OpTimeout)
		err := p.kv.Delete(ctx, id, jetstream.LastRevision(rev))
		cancel()
		if err != nil { // it moved (mismatch), or another node deleted it first, or an outage: next round decides
			p.log.Debug("membership: drop not stored", "peer", id, "error", err)
			continue
		}
		if p.tr.drop(id) {
			dropped = append(dropped, id)
		}
		p.log.Warn("membership: dropped a silent member and deleted its key", "peer", id, "ttl", p.cfg.TTL())
	}
	p.publish(append(left, v.left...), v.joined, dropped)
}
