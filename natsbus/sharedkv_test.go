package natsbus

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

func TestSharedKV(t *testing.T) {
	checkSharedKV(t, startBus(t, t.TempDir()))
}

// TestSharedKVReplicated: the same on three routed servers, the bucket
// replicated three times. A replicated stream refuses a stale Update or a
// Create of a held key with another error code (10164, without the
// sequence) than a single server (10071); both are "another writer came
// first", not a failure.
func TestSharedKVReplicated(t *testing.T) {
	buses, _ := startRouted(t, 3, "route-secret")
	checkSharedKV(t, buses[1])
}

func checkSharedKV(t *testing.T, b *Bus) {
	ctx := testCtx(t)
	kv, err := b.OpenSharedKV(ctx, "probe_shared", time.Minute, jetstream.MemoryStorage)
	if err != nil {
		t.Fatal(err)
	}
	if created, err := kv.Create(ctx, "k", []byte("v1")); err != nil || !created {
		t.Fatalf("first create: %v %v", created, err)
	}
	if created, err := kv.Create(ctx, "k", []byte("v2")); err != nil || created {
		t.Fatalf("second create: %v %v", created, err)
	}
	v, rev, found, err := kv.Get(ctx, "k")
	if err != nil || !found || string(v) != "v1" {
		t.Fatalf("get: %q %v %v", v, found, err)
	}
	if ok, err := kv.Update(ctx, "k", []byte("v3"), rev); err != nil || !ok {
		t.Fatalf("update: %v %v", ok, err)
	}
	if ok, err := kv.Update(ctx, "k", []byte("v4"), rev); err != nil || ok {
		t.Fatalf("stale update won: %v %v", ok, err)
	}
	if err := kv.Delete(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if _, _, found, err := kv.Get(ctx, "k"); err != nil || found {
		t.Fatalf("after delete: %v %v", found, err)
	}
	if created, err := kv.Create(ctx, "k", []byte("v5")); err != nil || !created {
		t.Fatalf("create after delete: %v %v", created, err)
	}
	if _, _, found, err := kv.Get(ctx, "never"); err != nil || found {
		t.Fatalf("absent key: %v %v", found, err)
	}
}

// TestSharedKVRemadeWithAnotherStorage: a bucket a previous version made
// on file is made again in memory (JetStream cannot change a stream's
// storage), and works; opened again with the same storage it keeps its
// entries.
func TestSharedKVRemadeWithAnotherStorage(t *testing.T) {
	b := startBus(t, t.TempDir())
	ctx := testCtx(t)
	kv, err := b.OpenSharedKV(ctx, "probe_storage", time.Minute, jetstream.FileStorage)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Create(ctx, "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	storage := func() jetstream.StorageType {
		s, err := b.JetStream().Stream(ctx, "KV_probe_storage")
		if err != nil {
			t.Fatal(err)
		}
		return s.CachedInfo().Config.Storage
	}
	if kv, err = b.OpenSharedKV(ctx, "probe_storage", time.Minute, jetstream.FileStorage); err != nil {
		t.Fatal(err)
	}
	if _, _, found, err := kv.Get(ctx, "k"); err != nil || !found {
		t.Fatalf("reopened with the same storage: found %v, %v", found, err)
	}
	if kv, err = b.OpenSharedKV(ctx, "probe_storage", time.Minute, jetstream.MemoryStorage); err != nil {
		t.Fatalf("reopened in memory: %v", err)
	}
	if got := storage(); got != jetstream.MemoryStorage {
		t.Fatalf("storage %v, want memory", got)
	}
	if created, err := kv.Create(ctx, "k", []byte("v2")); err != nil || !created {
		t.Fatalf("create in the remade bucket: %v %v", created, err)
	}
}
