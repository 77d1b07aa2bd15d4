package jsutil_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	"github.com/etaxd/etaxd/natsbus/jsutil"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// startServer starts a nats-server listening on 127.0.0.1 (a random port),
// with JetStream or without, and connects to it over TCP, as a client of
// external servers does.
func startServer(t *testing.T, js bool) (jetstream.JetStream, *nats.Conn) {
	t.Helper()
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: js,
		StoreDir: t.TempDir(), NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("server not ready")
	}
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	j, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return j, nc
}

func TestTransient(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{context.DeadlineExceeded, true},
		{fmt.Errorf("wrapped: %w", context.DeadlineExceeded), true},
		{nats.ErrTimeout, true},
		{nats.ErrNoResponders, true},
		{&jetstream.APIError{Code: 503, ErrorCode: 10008, Description: "JetStream system temporarily unavailable"}, true},
		{&jetstream.APIError{Code: 408, Description: "request timeout"}, true},
		{&jetstream.APIError{Code: 500, ErrorCode: 10009, Description: "JetStream cluster can not handle request"}, true},
		{&jetstream.APIError{Code: 400, ErrorCode: 10058, Description: "stream name already in use"}, false},
		{&jetstream.APIError{Code: 500, ErrorCode: 10052, Description: "stream configuration update can not change storage type"}, false},
		{jetstream.ErrStreamNotFound, false},
		{context.Canceled, false},
		{nats.ErrConnectionClosed, false},
		{errors.New("anything else"), false},
	} {
		if got := jsutil.Transient(c.err); got != c.want {
			t.Errorf("Transient(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

func TestAttemptsDo(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// The default policy: attempts that get no answer are made again, each
	// bounded by its own deadline, not the caller's.
	calls := 0
	err := jsutil.Attempt(ctx, func(actx context.Context) error {
		calls++
		if dl, ok := actx.Deadline(); !ok || time.Until(dl) > jsutil.AttemptTimeout {
			return fmt.Errorf("attempt %d has no deadline of its own", calls)
		}
		if calls < 3 {
			<-actx.Done()
			return actx.Err()
		}
		return nil
	})
	if err != nil || calls != 3 {
		t.Fatalf("timeouts: %d calls, %v", calls, err)
	}
	// A refusal is returned at once.
	calls = 0
	refused := &jetstream.APIError{Code: 400, ErrorCode: 10148, Description: "consumer config conflict"}
	if err := jsutil.Attempt(ctx, func(context.Context) error { calls++; return refused }); !errors.Is(err, refused) || calls != 1 {
		t.Fatalf("a refusal was tried %d times: %v", calls, err)
	}
	// A policy of one's own: its classification, its timeout and its pause.
	calls = 0
	pauses := []int{}
	mine := errors.New("try again")
	a := jsutil.Attempts{Timeout: 50 * time.Millisecond, Transient: func(err error) bool { return errors.Is(err, mine) },
		Pause: func(n int) time.Duration { pauses = append(pauses, n); return time.Millisecond }}
	err = a.Do(ctx, func(actx context.Context) error {
		calls++
		if dl, _ := actx.Deadline(); time.Until(dl) > 50*time.Millisecond {
			return errors.New("the attempt's timeout is not the policy's")
		}
		if calls < 4 {
			return mine
		}
		return nil
	})
	if err != nil || calls != 4 || fmt.Sprint(pauses) != "[1 2 3]" {
		t.Fatalf("own policy: %d calls, pauses %v, %v", calls, pauses, err)
	}
	// Under that policy the default's transient errors are final.
	calls = 0
	if err := a.Do(ctx, func(context.Context) error { calls++; return nats.ErrNoResponders }); calls != 1 || !errors.Is(err, nats.ErrNoResponders) {
		t.Fatalf("own classification ignored: %d calls, %v", calls, err)
	}
	// The caller's context ends the attempts, with the last error.
	short, cancel2 := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel2()
	if err := jsutil.Attempt(short, func(context.Context) error { return nats.ErrNoResponders }); !errors.Is(err, nats.ErrNoResponders) {
		t.Fatalf("after the caller's deadline: %v", err)
	}
}

func TestBackoff(t *testing.T) {
	got := []time.Duration{}
	for n := 1; n <= 6; n++ {
		got = append(got, jsutil.Backoff(n, 50*time.Millisecond, 500*time.Millisecond))
	}
	if fmt.Sprint(got) != "[50ms 100ms 200ms 400ms 500ms 500ms]" {
		t.Fatalf("Backoff: %v", got)
	}
}

func TestWaitMetaLeaderOverTCP(t *testing.T) {
	js, _ := startServer(t, true)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := jsutil.WaitMetaLeader(ctx, js); err != nil {
		t.Fatal(err)
	}
	// A server without JetStream never answers: the wait ends with the
	// caller's context and says why.
	nojs, _ := startServer(t, false)
	short, cancel2 := context.WithTimeout(ctx, 700*time.Millisecond)
	defer cancel2()
	err := jsutil.WaitMetaLeader(short, nojs)
	if !errors.Is(err, jsutil.ErrNoMetaLeader) {
		t.Fatalf("without JetStream: %v", err)
	}
}

// countingJS counts the stream creations made through it.
type countingJS struct {
	jetstream.JetStream
	creates int
}

func (c *countingJS) CreateOrUpdateStream(ctx context.Context, cfg jetstream.StreamConfig) (jetstream.Stream, error) {
	c.creates++
	return c.JetStream.CreateOrUpdateStream(ctx, cfg)
}

func kvStream(bucket string, storage jetstream.StorageType) jetstream.StreamConfig {
	return jetstream.StreamConfig{Name: "KV_" + bucket, Subjects: []string{"$KV." + bucket + ".>"},
		MaxMsgsPerSubject: 1, MaxBytes: -1, MaxMsgs: -1, MaxMsgSize: -1, Storage: storage,
		Replicas: 1, AllowRollup: true, DenyDelete: true, Discard: jetstream.DiscardNew, AllowDirect: false}
}

func TestEnsureKVStream(t *testing.T) {
	js, _ := startServer(t, true)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cj := &countingJS{JetStream: js}
	kv, err := jsutil.EnsureKVStream(ctx, cj, "members", kvStream("members", jetstream.FileStorage))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	st, err := js.Stream(ctx, "KV_members")
	if err != nil {
		t.Fatal(err)
	}
	if st.CachedInfo().Config.AllowDirect {
		t.Fatal("the bucket's stream was not created from the given configuration (AllowDirect)")
	}
	// Again: idempotent, the value is kept.
	kv2, err := jsutil.EnsureKVStream(ctx, cj, "members", kvStream("members", jetstream.FileStorage))
	if err != nil {
		t.Fatal(err)
	}
	if e, err := kv2.Get(ctx, "k"); err != nil || string(e.Value()) != "v" {
		t.Fatalf("after the second ensure: %v", err)
	}
	// A configuration the server refuses (another storage type) is final:
	// one attempt.
	cj.creates = 0
	_, err = jsutil.EnsureKVStream(ctx, cj, "members", kvStream("members", jetstream.MemoryStorage))
	var api *jetstream.APIError
	if !errors.As(err, &api) || jsutil.Transient(err) || cj.creates != 1 {
		t.Fatalf("refused configuration: %d attempts, %v", cj.creates, err)
	}
}

func TestCreateKVAndStreams(t *testing.T) {
	js, _ := startServer(t, true)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	kv, err := jsutil.CreateKV(ctx, js, jetstream.KeyValueConfig{Bucket: "b", History: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	if _, err := jsutil.CreateKV(ctx, js, jetstream.KeyValueConfig{Bucket: "b", History: 1}); err != nil {
		t.Fatalf("second create: %v", err)
	}
	cfg := jetstream.StreamConfig{Name: "S", Subjects: []string{"s.>"}, MaxAge: time.Hour}
	if _, err := jsutil.EnsureStream(ctx, js, cfg); err != nil {
		t.Fatal(err)
	}
	// EnsureStreamExists leaves an existing stream's configuration alone.
	other := cfg
	other.MaxAge = 2 * time.Hour
	if err := jsutil.EnsureStreamExists(ctx, js, other); err != nil {
		t.Fatal(err)
	}
	st, err := js.Stream(ctx, "S")
	if err != nil || st.CachedInfo().Config.MaxAge != time.Hour {
		t.Fatalf("EnsureStreamExists changed the stream: %v", err)
	}
	if _, err := jsutil.EnsureStream(ctx, js, other); err != nil {
		t.Fatal(err)
	}
	if st, err = js.Stream(ctx, "S"); err != nil || st.CachedInfo().Config.MaxAge != 2*time.Hour {
		t.Fatalf("EnsureStream did not update the stream: %v", err)
	}
	cons, err := jsutil.EnsureConsumer(ctx, js, "S", jetstream.ConsumerConfig{Durable: "d", AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil || cons.CachedInfo().Name != "d" {
		t.Fatalf("EnsureConsumer: %v", err)
	}
	// A consumer on a stream that does not exist is refused at once.
	if _, err := jsutil.EnsureConsumer(ctx, js, "NONE", jetstream.ConsumerConfig{Durable: "d"}); !errors.Is(err, jetstream.ErrStreamNotFound) {
		t.Fatalf("consumer on a missing stream: %v", err)
	}
}
