package membership

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/etaxd/etaxd/internal/clock"
)

// ExitEvicted is the exit code of a node that found its own member key
// deleted: the others dropped it (it was paused or cut off longer than the
// TTL) and protoactor blocks its id forever, so it must stop and be started
// again, which gives it a fresh member id. 75 is EX_TEMPFAIL of sysexits.h:
// "try again later", which is what a supervisor should do.
const ExitEvicted = 75

// Defaults of Config.
const (
	DefaultBucket      = "etaxd_members"
	DefaultPeriod      = 500 * time.Millisecond
	DefaultMissedBeats = 4
	DefaultMaxAge      = 24 * time.Hour
	DefaultStart       = 30 * time.Second
)

// Config configures a Provider. The zero value of every field but Name is
// usable: it means the default named in its comment.
type Config struct {
	// Name is this node's human name (e.g. "node-a"), shown in snapshots.
	Name string
	// Bucket is the KV bucket of member records (DefaultBucket). Every
	// member of one cluster uses the same bucket.
	Bucket string
	// Replicas is the bucket stream's replica count (1); a routed
	// production cluster sets 3.
	Replicas int
	// Period is the heartbeat period (DefaultPeriod).
	Period time.Duration
	// MissedBeats is how many of its own acknowledged beats a node waits
	// for a peer's revision to move before it drops the peer
	// (DefaultMissedBeats); the TTL is Period × MissedBeats.
	MissedBeats int
	// OpTimeout bounds each KV call of a beat (Period).
	OpTimeout time.Duration
	// MaxAge is the bucket's MaxAge, garbage collection of delete markers
	// only; it must stay far above any outage (DefaultMaxAge).
	MaxAge time.Duration
	// StartTimeout bounds waiting for a JetStream meta leader, creating the
	// bucket and writing the first record (DefaultStart).
	StartTimeout time.Duration
	// OnEvicted is called once, from the heartbeat goroutine, when this node
	// finds it has been evicted (err wraps ErrEvicted). A node binary logs
	// it and exits with ExitEvicted. Nil only logs.
	OnEvicted func(err error)
	// Logger receives the provider's records (slog.Default()).
	Logger *slog.Logger
	// Clock tells the time of snapshots and schedules beats (clock.Real).
	Clock clock.Clock
}

// TTL is how long a peer's record may stand still before it is dropped.
func (c Config) TTL() time.Duration { return c.Period * time.Duration(c.MissedBeats) }

// withDefaults returns c with every zero field set to its default.
func (c Config) withDefaults() Config {
	if c.Bucket == "" {
		c.Bucket = DefaultBucket
	}
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	if c.Period == 0 {
		c.Period = DefaultPeriod
	}
	if c.MissedBeats == 0 {
		c.MissedBeats = DefaultMissedBeats
	}
	if c.OpTimeout == 0 {
		c.OpTimeout = c.Period
	}
	if c.MaxAge == 0 {
		c.MaxAge = DefaultMaxAge
	}
	if c.StartTimeout == 0 {
		c.StartTimeout = DefaultStart
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Clock == nil {
		c.Clock = clock.Real{}
	}
	return c
}

// Validate reports every problem of c (after defaults) at once; each wraps
// ErrConfig.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, a ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrConfig}, a...)...))
	}
	if c.Name == "" {
		bad("name is empty")
	}
	if !validToken(c.Bucket) {
		bad("bucket %q: letters, digits, '-' and '_' only", c.Bucket)
	}
	if c.Replicas < 1 || c.Replicas > 5 {
		bad("replicas %d: 1 to 5", c.Replicas)
	}
	if c.Period < 10*time.Millisecond {
		bad("period %s: at least 10ms", c.Period)
	}
	if c.MissedBeats < 2 {
		bad("missed beats %d: at least 2", c.MissedBeats)
	}
	if c.OpTimeout <= 0 {
		bad("op timeout %s: positive", c.OpTimeout)
	}
	if c.MaxAge < time.Hour {
		bad("max age %s: at least 1h (it is garbage collection, far above any outage)", c.MaxAge)
	}
	if c.StartTimeout <= 0 {
		bad("start timeout %s: positive", c.StartTimeout)
	}
	return errors.Join(errs...)
}

// validToken reports whether s is a valid bucket name.
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}
