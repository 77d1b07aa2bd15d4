package prompts

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/etaxd/etaxd/natsbus/natsbustest"
)

// TestMain fails the package if a test leaves a goroutine behind: a
// consumer, queue or bus that Close did not stop. nats-server v2.15.3 and
// nats.go v1.55.0 leave none once Bus.Close returned (Shutdown plus
// WaitForShutdown), so nothing is ignored; if an upgrade adds some, list
// them here by their exact top function with goleak.IgnoreTopFunction.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// The bus helpers shared with the other packages on natsbus.
var (
	quietLogger = natsbustest.QuietLogger
	startBus    = natsbustest.StartBus
	testCtx     = natsbustest.Context
)

// prompt returns a prompt for openid.
func prompt(id, openid string) Prompt {
	now := time.Now().UTC()
	return Prompt{ID: id, Tenant: "t1", Account: "a1", Kind: KindSMSCode, OpenID: openid,
		Message: "请151****1832绑定的微信用户，前往公众号点击收到的登录通知进行操作", CreatedAt: now, ExpiresAt: now.Add(5 * time.Minute)}
}

// countingNotifier counts Notify calls per prompt ID and forwards to next.
type countingNotifier struct {
	next Notifier
	mu   sync.Mutex
	n    map[string]int
	all  atomic.Int64
}

func newCounting(next Notifier) *countingNotifier {
	return &countingNotifier{next: next, n: map[string]int{}}
}

func (c *countingNotifier) Notify(ctx context.Context, p Prompt) error {
	c.mu.Lock()
	c.n[p.ID]++
	c.mu.Unlock()
	c.all.Add(1)
	return c.next.Notify(ctx, p)
}

func (c *countingNotifier) calls(id string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[id]
}

// inboxHas returns nil once openid's inbox holds want prompts.
func inboxHas(b *Inbox, openid string, want int) func() error {
	return func() error {
		if got := len(b.Messages(openid)); got != want {
			return fmt.Errorf("inbox %q holds %d prompts, want %d", openid, got, want)
		}
		return nil
	}
}
