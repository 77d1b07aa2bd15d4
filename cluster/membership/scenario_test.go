//go:build linux

package membership_test

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/etaxd/etaxd/cluster/membership"
	"github.com/etaxd/etaxd/internal/testutil"
)

const grains = 24

// hosts calls every probe grain through the members in via (round robin)
// until each answered, and returns identity → hosting member.
func (h *harness) hosts(via ...string) map[string]string {
	h.t.Helper()
	out := map[string]string{}
	testutil.Eventually(h.t, 60*time.Second, func() error {
		for i := range grains {
			id := fmt.Sprintf("g%d", i)
			if _, ok := out[id]; ok {
				continue
			}
			host, err := h.call(via[i%len(via)], id)
			if err != nil {
				return fmt.Errorf("%s: %w", id, err)
			}
			out[id] = host
		}
		return nil
	})
	return out
}

// answeredOn waits until every identity in ids answers through via hosted
// on a member other than gone, and returns how long the slowest took. Each
// identity has at most one call out at a time (rotating through via), so a
// call stuck on the dead member does not hold the others up; each
// testutil.Eventually round collects the answers and sends the next calls.
func (h *harness) answeredOn(ids []string, gone string, via []string, since time.Time) time.Duration {
	h.t.Helper()
	type answer struct {
		i    int
		host string
		err  error
		at   time.Duration // since since
	}
	answers := make(chan answer, len(ids)) // one call per identity at a time: never full
	out, done := make([]bool, len(ids)), make([]bool, len(ids))
	tries, last := make([]int, len(ids)), make([]string, len(ids))
	left := len(ids)
	var slowest time.Duration
	var wg sync.WaitGroup
	defer wg.Wait()
	testutil.Eventually(h.t, time.Until(since.Add(60*time.Second)), func() error {
		for collected := false; !collected; {
			select {
			case a := <-answers:
				out[a.i] = false
				if a.err == nil && a.host != gone {
					done[a.i], left = true, left-1
					slowest = max(slowest, a.at)
				} else {
					last[a.i] = fmt.Sprintf("%v (host %q)", a.err, a.host)
				}
			default:
				collected = true
			}
		}
		if left == 0 {
			return nil
		}
		var missing []string
		for i, id := range ids {
			if done[i] {
				continue
			}
			missing = append(missing, id+": "+last[i])
			if out[i] {
				continue
			}
			out[i] = true
			v := via[(i+tries[i])%len(via)]
			tries[i]++
			wg.Go(func() {
				host, err := h.call(v, id)
				answers <- answer{i: i, host: host, err: err, at: time.Since(since)}
			})
		}
		return fmt.Errorf("%d grains not answered on a survivor yet: %s", len(missing), strings.Join(missing, "; "))
	})
	return slowest
}

// dropped waits until every survivor no longer counts name alive.
func (h *harness) dropped(name string, survivors []string) {
	h.t.Helper()
	testutil.Eventually(h.t, 60*time.Second, func() error {
		for _, s := range survivors {
			snap, err := h.snapshot(s)
			if err != nil {
				return err
			}
			if slices.Contains(aliveNames(snap), name) {
				return fmt.Errorf("%s still counts %s alive", s, name)
			}
			// Every departure of name that s remembers is blocked: its id
			// left a member set s pushed to protoactor.
			departed := 0
			for _, m := range snap.Members {
				if m.Name == name && (m.State == "dropped" || m.State == "left") {
					departed++
					if !slices.Contains(snap.Blocked, m.ID) {
						return fmt.Errorf("%s lists %s (%s) %s but not blocked: %v", s, name, m.ID, m.State, snap.Blocked)
					}
				}
			}
			if departed == 0 {
				return fmt.Errorf("%s does not list a departure of %s yet", s, name)
			}
		}
		return nil
	})
}

func hostedBy(hosts map[string]string, name string) []string {
	var ids []string
	for id, h := range hosts {
		if h == name {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
}

func without(names []string, name string) []string {
	return slices.DeleteFunc(slices.Clone(names), func(n string) bool { return n == name })
}

func median(ds []time.Duration) time.Duration {
	s := slices.Sorted(slices.Values(ds))
	return s[len(s)/2]
}

// TestClusterFailover runs three member processes against one embedded
// nats-server: they converge; three times the member hosting the most
// grains is killed with SIGKILL, dropped by the others, its grains answer
// on survivors, and it is restarted (fresh id) and rejoins; then a member
// is paused (SIGSTOP) longer than the TTL while its grains move, and on
// SIGCONT it exits with ExitEvicted. No grain is ever active twice.
func TestClusterFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("starts member processes (about a minute)")
	}
	h := newHarness(t)
	names := []string{"a", "b", "c"}
	ports := map[string]int{}
	t0 := time.Now()
	for _, n := range names {
		ports[n] = freePort(t)
		h.start(n, ports[n])
	}
	h.converged(names...)
	t.Logf("3 members started together → all see 3: %s", time.Since(t0).Round(time.Millisecond))
	hosts := h.hosts(names...)

	var detect, failover, rejoin []time.Duration
	for round := range 3 {
		victim := names[0]
		for _, n := range names {
			if len(hostedBy(hosts, n)) > len(hostedBy(hosts, victim)) {
				victim = n
			}
		}
		ids := hostedBy(hosts, victim)
		survivors := without(names, victim)
		m := h.procs[victim]
		killed := time.Now()
		if err := m.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		m.wait()
		h.dropped(victim, survivors)
		detect = append(detect, time.Since(killed))
		failover = append(failover, h.answeredOn(ids, victim, survivors, killed))
		t.Logf("round %d: kill -9 %s (%d grains): dropped after %s, its grains answered on survivors after %s",
			round, victim, len(ids), detect[round].Round(time.Millisecond), failover[round].Round(time.Millisecond))

		restarted := time.Now()
		h.start(victim, ports[victim])
		h.converged(names...)
		rejoin = append(rejoin, time.Since(restarted))
		t.Logf("round %d: %s restarted with a fresh id, seen by all after %s", round, victim, rejoin[round].Round(time.Millisecond))
		hosts = h.hosts(names...)
	}
	t.Logf("kill -9 over %d rounds: detection median %s max %s; failover median %s max %s; rejoin median %s max %s",
		len(detect), median(detect).Round(time.Millisecond), slices.Max(detect).Round(time.Millisecond),
		median(failover).Round(time.Millisecond), slices.Max(failover).Round(time.Millisecond),
		median(rejoin).Round(time.Millisecond), slices.Max(rejoin).Round(time.Millisecond))

	// Pause: the paused member's grains move while it is stopped; calls
	// sent to it queue up in NATS and reach it on SIGCONT, when its view is
	// stale: it must refuse them and evict itself.
	victim := names[0]
	for _, n := range names {
		if len(hostedBy(hosts, n)) > len(hostedBy(hosts, victim)) {
			victim = n
		}
	}
	ids := hostedBy(hosts, victim)
	survivors := without(names, victim)
	m := h.procs[victim]
	paused := time.Now()
	if err := m.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	h.dropped(victim, survivors)
	t.Logf("SIGSTOP %s (%d grains): dropped after %s", victim, len(ids), time.Since(paused).Round(time.Millisecond))
	h.answeredOn(ids, victim, survivors, paused)
	queued := make([]chan error, 0, len(ids))
	for _, id := range ids {
		ch := make(chan error, 1)
		queued = append(queued, ch)
		go func() { _, err := h.call(victim, id); ch <- err }()
	}
	if err := m.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	code := m.wait()
	t.Logf("SIGCONT %s after %s paused: exit code %d", victim, time.Since(paused).Round(time.Millisecond), code)
	if code != membership.ExitEvicted {
		t.Fatalf("paused member exited with %d, want ExitEvicted (%d)", code, membership.ExitEvicted)
	}
	for i, ch := range queued {
		if err := <-ch; err == nil {
			t.Errorf("the evicted member served %s after its pause", ids[i])
		}
	}
	h.start(victim, ports[victim])
	h.converged(names...)
	h.hosts(names...)
	if n := h.doubles(); n != 0 {
		t.Fatalf("%d double activations", n)
	}
}
