package httpapi

import (
	"bytes"

	"github.com/gofiber/fiber/v2"
)

// checkFraming refuses a request whose body framing two HTTP parsers could
// read differently, the stuff of request smuggling behind a proxy: two
// Content-Length headers with different values (fasthttp takes the last),
// or Transfer-Encoding together with Content-Length (fasthttp takes the
// chunked body). RFC 9112 §6.1 and §6.3 call both an error. The answer is
// 400 ambiguous_framing and the connection is closed: where this request
// ended is unknown, so nothing after it on the connection may be read as a
// request. Content-Length repeated with one value is served: every reader
// agrees on it and RFC 9112 lets a recipient take it as one.
//
// fasthttp has already read the body by the time a handler runs and offers
// no hook into its header parser, so the check reads the raw header lines
// it keeps (RawHeaders); a request that did not come off the wire has none
// and passes.
func (h *handlers) checkFraming(c *fiber.Ctx) error {
	if framingAmbiguous(c.Request().Header.RawHeaders()) {
		c.Context().SetConnectionClose()
		return ErrAmbiguousFraming
	}
	return c.Next()
}

var (
	headerContentLength    = []byte("content-length")
	headerTransferEncoding = []byte("transfer-encoding")
)

// framingAmbiguous reports whether raw header lines ("Name: value\r\n"…)
// carry different Content-Length values, or a Transfer-Encoding next to a
// Content-Length.
func framingAmbiguous(raw []byte) bool {
	var length []byte
	lengths, te := 0, false
	for len(raw) > 0 {
		line := raw
		if i := bytes.IndexByte(raw, '\n'); i >= 0 {
			line, raw = raw[:i], raw[i+1:]
		} else {
			raw = nil
		}
		name, value, found := bytes.Cut(line, []byte(":"))
		if !found {
			continue
		}
		name, value = bytes.TrimSpace(name), bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, headerContentLength):
			if lengths > 0 && !bytes.Equal(value, length) {
				return true
			}
			length = value
			lengths++
		case bytes.EqualFold(name, headerTransferEncoding):
			te = true
		}
	}
	return te && lengths > 0
}
