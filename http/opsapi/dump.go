package opsapi

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/gofiber/fiber/v2"
)

// DumpFunc writes the store's dump (persistence.Dump) to w.
type DumpFunc func(ctx context.Context, w io.Writer) error

// dumpTimeout bounds one dump: a store of a million accounts is read in
// minutes.
const dumpTimeout = 2 * time.Hour

// RegisterDump adds GET /v1/store/dump: the whole store as JSON lines (the
// format of persistence.Dump), streamed as it is read, for "etaxd cluster
// dump" and then "etaxd store restore" on a single node. It holds every
// record as stored, secrets sealed, so it is an operator's route like the
// others (the /ops group's token). A failure midway ends the stream
// without its end line, which restore refuses; the cause goes to the log.
func RegisterDump(r fiber.Router, dump DumpFunc, opts ...Option) {
	a := &api{log: slog.Default(), now: time.Now, base: context.Background()}
	for _, o := range opts {
		o(a)
	}
	r.Get("/v1/store/dump", func(c *fiber.Ctx) error {
		rid := c.GetRespHeader(fiber.HeaderXRequestID)
		c.Set(fiber.HeaderContentType, MediaNDJSON)
		c.Set(fiber.HeaderContentDisposition, fmt.Sprintf(`attachment; filename="etaxd-dump-%s.jsonl"`, a.now().UTC().Format("20060102T150405Z")))
		log := a.log
		// The stream writer runs once the headers are out, after the
		// handler returned: it must not touch the Fiber context.
		c.Context().SetBodyStreamWriter(func(w *bufio.Writer) {
			ctx, cancel := context.WithTimeout(a.base, dumpTimeout)
			defer cancel()
			start := time.Now()
			err := dump(ctx, w)
			if err == nil {
				err = w.Flush()
			}
			if err != nil {
				log.Error("ops api: store dump failed", "request_id", rid, "err", err)
				return
			}
			log.Info("ops api: store dumped", "request_id", rid, "took", time.Since(start))
		})
		return nil
	})
}
