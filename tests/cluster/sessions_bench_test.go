package cluster

import (
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/etaxd/etaxd/internal/testutil"
)

// BenchmarkClusterSessions compares POST /api/v1/sessions for a logged-in
// account sent to the node that hosts the tenant with the same request
// sent to another node (one more hop: the sealed frame to the owner and
// back), 16 callers each, in one run. It reports the throughput ratio
// (non-owner / owner, the target is at least 0.5) and both p99s.
func BenchmarkClusterSessions(b *testing.B) {
	c := startCluster(b)
	for _, n := range c.nodes {
		testutil.WaitReady(b, "http://"+n.http+"/readyz", 3*time.Minute)
	}
	c.converged(c.nodes, time.Minute)
	key, secret, taxNo := c.readDemo(c.nodes[0])
	c.erp = caller{key: key, secret: []byte(secret)}
	owner := c.owner(c.nodes[0], "demo")
	var other *node
	for _, n := range c.nodes {
		if n != owner {
			other = n
			break
		}
	}
	body := map[string]any{"tax_no": taxNo, "business": "issue", "action": "login"}
	run := func(n *node, total int) (perSec float64, p99 time.Duration) {
		const callers = 16
		lat := make([]time.Duration, total)
		var wg sync.WaitGroup
		start := time.Now()
		for w := 0; w < callers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := w; i < total; i += callers {
					t0 := time.Now()
					a, err := c.erp.send(n.http, "POST", "/api/v1/sessions", body, true, 10*time.Second)
					if err != nil || a.status != 200 {
						b.Errorf("%s: %v %d %s", n.name, err, a.status, a.raw)
						return
					}
					lat[i] = time.Since(t0)
				}
			}()
		}
		wg.Wait()
		el := time.Since(start)
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		return float64(total) / el.Seconds(), lat[total*99/100]
	}
	run(owner, 200) // warm both paths
	run(other, 200)
	b.ResetTimer()
	total := max(b.N, 2000)
	var ratios []float64
	var ownP99, othP99 time.Duration
	for round := 0; round < 3; round++ {
		own, op := run(owner, total)
		oth, xp := run(other, total)
		ratios = append(ratios, oth/own)
		ownP99, othP99 = max(ownP99, op), max(othP99, xp)
		b.Logf("round %d: owner %s %.0f/s (p99 %s), non-owner %s %.0f/s (p99 %s): ratio %.2f",
			round+1, owner.name, own, op, other.name, oth, xp, oth/own)
	}
	b.StopTimer()
	sort.Float64s(ratios)
	b.ReportMetric(ratios[1], "nonowner/owner")
	b.ReportMetric(float64(othP99)/float64(ownP99), "p99-nonowner/owner")
}
