package taxbureau

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/etaxd/etaxd/domain"
)

// Instrumented wraps a Gateway and counts its calls by method and outcome
// ("ok" or the catalogue code), with their total time and a latency
// histogram, for /metrics. It is safe for concurrent use.
type Instrumented struct {
	Gateway
	mu    sync.Mutex
	stats map[opKey]*OpStat
}

type opKey struct{ op, outcome string }

// OpStat is the count of one method and outcome.
type OpStat struct {
	Op      string
	Outcome string
	Count   uint64
	Seconds float64
	// Buckets are cumulative counts of calls that took at most the key
	// (seconds), as a Prometheus histogram has them.
	Buckets map[float64]uint64
}

// LatencyBuckets are the histogram bounds, in seconds.
var LatencyBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}

// Instrument wraps gw.
func Instrument(gw Gateway) *Instrumented {
	return &Instrumented{Gateway: gw, stats: map[opKey]*OpStat{}}
}

func (g *Instrumented) observe(op string, start time.Time, err error) {
	took := time.Since(start).Seconds()
	outcome := "ok"
	if err != nil {
		outcome = domain.AsError(err).Code
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	k := opKey{op, outcome}
	s := g.stats[k]
	if s == nil {
		s = &OpStat{Op: op, Outcome: outcome, Buckets: make(map[float64]uint64, len(LatencyBuckets))}
		g.stats[k] = s
	}
	s.Count++
	s.Seconds += took
	for _, b := range LatencyBuckets {
		if took <= b {
			s.Buckets[b]++
		}
	}
}

// Stats returns a copy of the counts, ordered by method and outcome.
func (g *Instrumented) Stats() []OpStat {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]OpStat, 0, len(g.stats))
	for _, s := range g.stats {
		c := *s
		c.Buckets = make(map[float64]uint64, len(s.Buckets))
		for k, v := range s.Buckets {
			c.Buckets[k] = v
		}
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Op != out[j].Op {
			return out[i].Op < out[j].Op
		}
		return out[i].Outcome < out[j].Outcome
	})
	return out
}

// Login is Gateway.Login, counted.
func (g *Instrumented) Login(ctx context.Context, req LoginRequest) (LoginResult, error) {
	start := time.Now()
	r, err := g.Gateway.Login(ctx, req)
	g.observe(MethodLogin, start, err)
	return r, err
}

// SubmitCode is Gateway.SubmitCode, counted.
func (g *Instrumented) SubmitCode(ctx context.Context, challengeID, code string) (Session, error) {
	start := time.Now()
	s, err := g.Gateway.SubmitCode(ctx, challengeID, code)
	g.observe(MethodSubmitCode, start, err)
	return s, err
}

// StartQR is Gateway.StartQR, counted.
func (g *Instrumented) StartQR(ctx context.Context, req QRRequest) (QRChallenge, error) {
	start := time.Now()
	q, err := g.Gateway.StartQR(ctx, req)
	g.observe(MethodStartQR, start, err)
	return q, err
}

// PollQR is Gateway.PollQR, counted.
func (g *Instrumented) PollQR(ctx context.Context, qrID string) (QRStatus, error) {
	start := time.Now()
	s, err := g.Gateway.PollQR(ctx, qrID)
	g.observe(MethodPollQR, start, err)
	return s, err
}

// StartCertification is Gateway.StartCertification, counted.
func (g *Instrumented) StartCertification(ctx context.Context, token string) (FaceChallenge, error) {
	start := time.Now()
	f, err := g.Gateway.StartCertification(ctx, token)
	g.observe(MethodStartCertification, start, err)
	return f, err
}

// PollCertification is Gateway.PollCertification, counted.
func (g *Instrumented) PollCertification(ctx context.Context, certID string) (CertStatus, error) {
	start := time.Now()
	s, err := g.Gateway.PollCertification(ctx, certID)
	g.observe(MethodPollCertification, start, err)
	return s, err
}

// Relations is Gateway.Relations, counted.
func (g *Instrumented) Relations(ctx context.Context, region, username, password string) ([]Relation, error) {
	start := time.Now()
	r, err := g.Gateway.Relations(ctx, region, username, password)
	g.observe(MethodRelations, start, err)
	return r, err
}

// VerifyPassword is Gateway.VerifyPassword, counted.
func (g *Instrumented) VerifyPassword(ctx context.Context, region, username, password string) error {
	start := time.Now()
	err := g.Gateway.VerifyPassword(ctx, region, username, password)
	g.observe(MethodVerifyPassword, start, err)
	return err
}

// StartReset is Gateway.StartReset, counted.
func (g *Instrumented) StartReset(ctx context.Context, req ResetRequest) (Challenge, error) {
	start := time.Now()
	c, err := g.Gateway.StartReset(ctx, req)
	g.observe(MethodStartReset, start, err)
	return c, err
}

// CompleteReset is Gateway.CompleteReset, counted.
func (g *Instrumented) CompleteReset(ctx context.Context, challengeID, code, newPassword string) error {
	start := time.Now()
	err := g.Gateway.CompleteReset(ctx, challengeID, code, newPassword)
	g.observe(MethodCompleteReset, start, err)
	return err
}

// CheckSession is Gateway.CheckSession, counted.
func (g *Instrumented) CheckSession(ctx context.Context, token string) (SessionStatus, error) {
	start := time.Now()
	s, err := g.Gateway.CheckSession(ctx, token)
	g.observe(MethodCheckSession, start, err)
	return s, err
}
