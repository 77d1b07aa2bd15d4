package opsapi

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
)

// TestDumpEndsWithTheBaseContext: a dump still streaming when the server's
// base context ends (shutdown) is cancelled and its stream cut short; the
// client's read ends instead of waiting for the 2-hour bound.
func TestDumpEndsWithTheBaseContext(t *testing.T) {
	base, cancel := context.WithCancel(context.Background())
	defer cancel()
	saw := make(chan error, 1)
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	RegisterDump(app, func(ctx context.Context, w io.Writer) error {
		if _, err := io.WriteString(w, `{"kind":"header"}`+"\n"); err != nil {
			return err
		}
		if f, ok := w.(interface{ Flush() error }); ok {
			_ = f.Flush()
		}
		<-ctx.Done()
		saw <- ctx.Err()
		return ctx.Err()
	}, WithLogger(slog.New(slog.DiscardHandler)), WithBaseContext(base))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = app.Listener(ln) }()
	defer func() { _ = app.ShutdownWithTimeout(time.Second) }()

	resp, err := http.Get("http://" + ln.Addr().String() + "/v1/store/dump")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != MediaNDJSON {
		t.Fatalf("dump answered %s, %q", resp.Status, resp.Header.Get("Content-Type"))
	}
	read := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(resp.Body)
		read <- string(b)
	}()
	select {
	case b := <-read:
		t.Fatalf("the stream ended before the base context did: %q", b)
	case <-time.After(200 * time.Millisecond):
	}
	cancel()
	select {
	case err := <-saw:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("the dump's context ended with %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the dump's context did not end with the base context")
	}
	select {
	case b := <-read:
		if !strings.HasPrefix(b, `{"kind":"header"}`) || strings.Contains(b, `"end"`) {
			t.Fatalf("the cut stream read %q", b)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the client's read did not end once the dump was cancelled")
	}
}
