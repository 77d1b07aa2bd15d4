package natsbus

import (
	"context"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/etaxd/etaxd/natsbus/jsutil"
)

// Following the nonce log: every node reads the whole stream into memory
// from its first message, and follows it again from the start when the
// stream was made anew.

// remadeCheck is how often a node asks whether the stream it follows is
// still the one it opened (a variable for the tests).
var remadeCheck = 5 * time.Second

// watch follows the stream again when it was made anew. An append notices
// that itself when the stream is gone, or when it is refused and the key's
// last message is below the one it noted; watch covers the appends that
// go through on a remade stream because its sequences are below the old
// ones: its delay (remadeCheck) bounds how long they can miss another
// node's nonces.
func (n *NonceLog) watch(ctx context.Context) {
	defer close(n.watching)
	tick := time.NewTicker(remadeCheck)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		cctx, cancel := context.WithTimeout(ctx, nonceLogTimeout)
		_, err := n.followNew(cctx)
		cancel()
		if err != nil && ctx.Err() == nil {
			n.warn.Warn(n.log, "natsbus: checking the nonce log's stream", "err", err)
		}
	}
}

// streamInfo asks for the stream's state in short attempts (a stream
// whose leader is being elected answers nothing at first).
func (n *NonceLog) streamInfo(ctx context.Context) (*jetstream.StreamInfo, error) {
	var info *jetstream.StreamInfo
	err := jsutil.Attempt(ctx, func(actx context.Context) error {
		var err error
		info, err = n.stream.Info(actx)
		return err
	})
	return info, err
}

// startFollowing follows the stream from its first message with a new
// ordered consumer, and notes which stream that is (created, its creation
// time). n.follower is held.
func (n *NonceLog) startFollowing(ctx context.Context, created time.Time) error {
	cons, err := n.stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{NonceLogSubjects},
		DeliverPolicy:  jetstream.DeliverAllPolicy,
	})
	if err != nil {
		return fmt.Errorf("natsbus: follow the nonce log: %w", err)
	}
	cc, err := cons.Consume(n.follow, jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
		n.warn.Warn(n.log, "natsbus: following the nonce log", "err", err)
	}))
	if err != nil {
		return fmt.Errorf("natsbus: follow the nonce log: %w", err)
	}
	n.cc, n.created = cc, created
	return nil
}

// followNew follows the stream again from its start when it is not the one
// followed, and reports whether it did. Such a stream was lost and made
// anew (every server of an external NATS restarted, or an operator removed
// it): its creation time differs and its sequences started over. The
// sequences noted for the old stream say nothing of the new one, so every
// key's last drops to 0 (an append then catches up first); the nonces
// remembered stay.
func (n *NonceLog) followNew(ctx context.Context) (bool, error) {
	n.follower.Lock()
	defer n.follower.Unlock()
	info, err := n.stream.Info(ctx)
	if err != nil {
		return false, fmt.Errorf("natsbus: nonce log stream: %w", err)
	}
	if info.Created.Equal(n.created) {
		return false, nil
	}
	n.log.Warn("natsbus: the nonce log's stream was made anew; following it from its start",
		"created", info.Created, "followed", n.created)
	n.cc.Stop()
	<-n.cc.Closed()
	n.mu.Lock()
	for _, k := range n.keys {
		k.last = 0
	}
	n.applied, n.atEnd = 0, false
	n.mu.Unlock()
	return true, n.startFollowing(ctx, info.Created)
}

// remake makes the stream again when it is gone, and follows it (followNew).
func (n *NonceLog) remake(ctx context.Context) error {
	if _, err := jsutil.EnsureStream(ctx, n.js, n.cfg); err != nil {
		return fmt.Errorf("natsbus: nonce log stream: %w", err)
	}
	_, err := n.followNew(ctx)
	return err
}

// followPoll is how often waitFollowed asks the stream where it ends.
const followPoll = 250 * time.Millisecond

// waitFollowed waits until the node has followed the log to its end: a
// followed message had none after it, or the stream's last message is
// followed, or the stream holds no message (those it held expired before
// they reached this node).
func (n *NonceLog) waitFollowed(ctx context.Context) error {
	tick := time.NewTicker(followPoll)
	defer tick.Stop()
	check := true
	for {
		if check {
			info, err := n.streamInfo(ctx)
			if err != nil {
				return err
			}
			n.mu.Lock()
			if info.State.Msgs == 0 || info.State.LastSeq <= n.applied {
				n.atEnd = true
			}
			n.mu.Unlock()
		}
		n.mu.Lock()
		atEnd, moved := n.atEnd, n.moved
		n.mu.Unlock()
		if atEnd {
			return nil
		}
		select {
		case <-moved:
			check = false
		case <-tick.C:
			check = true
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// follow takes one batch of the log, from any node, into memory.
func (n *NonceLog) follow(msg jetstream.Msg) {
	meta, err := msg.Metadata()
	if err != nil {
		n.log.Warn("natsbus: nonce log message without metadata", "err", err)
		return
	}
	n.mu.Lock()
	ok := n.take(n.key(msg.Subject()), meta.Sequence.Stream, msg.Data())
	n.applied = max(n.applied, meta.Sequence.Stream)
	if meta.NumPending == 0 {
		n.atEnd = true
	}
	close(n.moved)
	n.moved = make(chan struct{})
	n.mu.Unlock()
	if !ok {
		n.log.Warn("natsbus: nonce log message is not a batch of nonces; skipped", "subject", msg.Subject(), "bytes", len(msg.Data()))
	}
}

// take puts the nonces of k's message seq (its data) into seen and moves
// k.last to it, and reports whether the data is a batch; a message that is
// not is skipped, and k.last moves all the same. The messages of a subject
// must be taken in their order. n.mu is held.
func (n *NonceLog) take(k *nonceKey, seq uint64, data []byte) bool {
	ok := len(data) >= 1 && data[0] == nonceBatchV1 && (len(data)-1)%nonceRecord == 0
	if ok {
		now := time.Now().Unix()
		for r := data[1:]; len(r) > 0; r = r[nonceRecord:] {
			var d [nonceDigestLen]byte
			copy(d[:], r)
			n.seen.add(d, int64(binary.BigEndian.Uint64(r[nonceDigestLen:])), now)
		}
	}
	k.last = max(k.last, seq)
	return ok
}
