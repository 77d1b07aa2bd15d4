package httpapi

import (
	"bufio"
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

// TestAmbiguousFraming sends raw requests over a real connection (app.Test
// and net/http cannot send two Content-Length headers): framing that two
// parsers could read differently is refused with 400 ambiguous_framing and
// the connection is closed, so nothing after it is read as a request.
// Repeats of one value are not ambiguous (RFC 9112 §6.3 lets a recipient
// take them as one) and are served.
func TestAmbiguousFraming(t *testing.T) {
	app := New(Deps{Logger: slog.New(slog.DiscardHandler)})
	app.Post("/echo", func(c *fiber.Ctx) error { return c.Send(c.Body()) })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = app.Listener(ln) }()
	defer func() { _ = app.Shutdown() }()

	const chunked = "5\r\nhello\r\n0\r\n\r\n"
	for _, tc := range []struct {
		name, headers, body string
		refused             bool
	}{
		{"one length", "Content-Length: 5\r\n", "hello", false},
		{"the same length twice", "Content-Length: 5\r\nContent-Length: 5\r\n", "hello", false},
		{"two lengths", "Content-Length: 3\r\nContent-Length: 5\r\n", "hello", true},
		{"two lengths, other case", "Content-Length: 5\r\ncontent-length: 3\r\n", "hel", true},
		{"chunked and a length", "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n", chunked, true},
		{"a length and chunked", "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", chunked, true},
		{"chunked only", "Transfer-Encoding: chunked\r\n", chunked, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
			// A second request follows on the same connection: after a
			// refusal it must never be answered.
			raw := "POST /echo HTTP/1.1\r\nHost: x\r\n" + tc.headers + "\r\n" + tc.body +
				"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nok"
			if _, err := io.WriteString(conn, raw); err != nil {
				t.Fatal(err)
			}
			rd := bufio.NewReader(conn)
			res, err := http.ReadResponse(rd, nil)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if !tc.refused {
				if res.StatusCode != 200 || string(body) != "hello" {
					t.Fatalf("= %d %s, want 200 hello", res.StatusCode, body)
				}
				return
			}
			if res.StatusCode != 400 || !strings.Contains(string(body), `"code":"ambiguous_framing"`) {
				t.Fatalf("= %d %s, want 400 ambiguous_framing", res.StatusCode, body)
			}
			if next, err := http.ReadResponse(rd, nil); !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
				status := 0
				if next != nil {
					status = next.StatusCode
				}
				t.Fatalf("the connection stayed open after the refusal: next answer %d, %v", status, err)
			}
		})
	}
}
