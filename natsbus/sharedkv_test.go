package natsbus

import (
	"testing"
	"time"
)

func TestSharedKV(t *testing.T) {
	b := startBus(t, t.TempDir())
	ctx := testCtx(t)
	kv, err := b.OpenSharedKV(ctx, "probe_shared", time.Minute)
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
