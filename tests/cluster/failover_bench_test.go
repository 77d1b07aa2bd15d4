package cluster

import (
	"fmt"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/etaxd/etaxd/internal/testutil"
)

// BenchmarkClusterFailover kills (SIGKILL) the node that hosts the demo
// tenant b.N times and measures, each time, how long until a survivor
// answers the demo's session again; then the killed node starts again and
// rejoins. It reports the median and the largest failover (run it with
// -benchtime=10x for ten kills), and the time three nodes started together
// take to see each other.
func BenchmarkClusterFailover(b *testing.B) {
	c := startCluster(b)
	start := time.Now()
	for _, n := range c.nodes {
		testutil.WaitReady(b, "http://"+n.http+"/readyz", 3*time.Minute)
	}
	c.converged(c.nodes, time.Minute)
	converge := time.Since(start)
	key, secret, taxNo := c.readDemo(c.nodes[0])
	c.erp = caller{key: key, secret: []byte(secret)}
	body := map[string]any{"tax_no": taxNo, "business": "issue", "action": "login"}
	var times []time.Duration
	var acked int
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		killed := c.owner(c.nodes[i%3], "demo")
		survivors := slices.DeleteFunc(slices.Clone(c.nodes), func(n *node) bool { return n == killed })
		_, stopWriters := c.writers(c.nodes)
		time.Sleep(500 * time.Millisecond) // not a retry: writes acknowledged before the kill
		b.StartTimer()
		killed.kill()
		t0 := time.Now()
		testutil.Eventually(b, 2*time.Minute, func() error {
			a, err := c.erp.send(survivors[0].http, "POST", "/api/v1/sessions", body, true, 10*time.Second)
			if err != nil {
				return err
			}
			if a.status != 200 {
				return fmt.Errorf("%d %s", a.status, a.raw)
			}
			return nil
		})
		times = append(times, time.Since(t0))
		b.StopTimer()
		ids := stopWriters()
		c.allThere(b, survivors[0], ids)
		acked += len(ids)
		killed.start()
		testutil.WaitReady(b, "http://"+killed.http+"/readyz", 2*time.Minute)
		c.converged(c.nodes, time.Minute)
		b.StartTimer()
	}
	b.StopTimer()
	var doubles int64
	for _, n := range c.nodes {
		st, err := c.status(n, "")
		if err != nil {
			b.Fatal(err)
		}
		doubles += st.Doubles
	}
	if doubles != 0 {
		b.Fatalf("%d double activations over %d kills", doubles, len(times))
	}
	med, worst := spread(times)
	b.ReportMetric(med.Seconds(), "failover-median-s")
	b.ReportMetric(worst.Seconds(), "failover-max-s")
	b.ReportMetric(converge.Seconds(), "converge-s")
	b.Logf("%d kills: failover median %s, max %s (all: %v); %d changes acknowledged around the kills, all there; "+
		"double activations 0; three nodes ready and converged %s after start", len(times), med, worst, times, acked, converge)
}

func spread(ds []time.Duration) (median, max time.Duration) {
	s := slices.Clone(ds)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2], s[len(s)-1]
}
