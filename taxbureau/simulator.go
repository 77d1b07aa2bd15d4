package taxbureau

// The simulator: its state, NewSimulator, and the sweep that forgets what ended.

import (
	"crypto/rand"
	"math/big"
	"strings"
	"sync"
	"time"

	"github.com/etaxd/etaxd/domain"
	"github.com/etaxd/etaxd/internal/clock"
)

var _ Gateway = (*Simulator)(nil)

// forgetAfter is how long the simulator remembers a challenge, QR code,
// certification or session after it ended, so late callers get
// domain.ErrCodeExpired or an expired state rather than
// domain.ErrNoChallenge. Then they are dropped to bound memory.
const forgetAfter = 10 * time.Minute

// sweepEvery is how often (in simulated time) the forgotten entries are
// dropped.
const sweepEvery = time.Minute

// Simulator is an in-process tax bureau that implements Gateway with the
// rules of SimConfig. Create it with NewSimulator; the zero value is not
// usable. It is safe for concurrent use.
type Simulator struct {
	cfg    SimConfig
	clk    clock.Clock
	noSMS  map[string]bool
	faults faults

	mu           sync.Mutex           // guards everything below
	save         func([]Person) error // see KeepPersons; nil keeps nothing
	persons      map[string]*person
	logins       map[string]string // login key → person id
	challenges   map[string]*challenge
	qrs          map[string]*qrLogin
	certs        map[string]*certification
	sessions     map[string]*session // by token; only live or expired ones
	live         map[liveKey]string  // → token of the one session
	budgets      map[budgetKey]domain.PhoneBudget
	outbox       map[string][]SMS // by phone, oldest first
	smsSent      chan struct{}    // closed and replaced at every send
	certValidity map[string]time.Duration
	lastSweep    time.Time
}

// liveKey is what the one-session rule counts by: a natural person on one
// region's platform for one channel.
type liveKey struct {
	personID string
	region   string
	channel  domain.Channel
}

type budgetKey struct{ phone, region string }

// challenge is a code sent for a login or a reset.
type challenge struct {
	id       string
	purpose  Purpose
	personID string
	phone    string
	code     string
	expires  time.Time
	wrong    int
	// login only
	rel     Relation
	channel domain.Channel
}

type qrLogin struct {
	id       string
	region   string
	taxNo    string
	channel  domain.Channel
	app      QRApp
	expires  time.Time
	state    QRState
	personID string
	role     domain.Role
	session  *Session
}

type certification struct {
	id         string
	taxNo      string
	expires    time.Time
	passed     bool
	validUntil time.Time
}

type session struct {
	Session
	key   liveKey
	taxNo string
	role  domain.Role
}

// NewSimulator returns a simulator with no persons. It panics when cfg fails
// Validate: check a configuration read from a user first.
func NewSimulator(cfg SimConfig, clk clock.Clock) *Simulator {
	if err := cfg.Validate(); err != nil {
		panic("taxbureau: invalid simulator config: " + err.Error())
	}
	cfg.NoSMSRegions = append([]string(nil), cfg.NoSMSRegions...)
	s := &Simulator{
		cfg:          cfg,
		clk:          clk,
		noSMS:        make(map[string]bool),
		persons:      make(map[string]*person),
		logins:       make(map[string]string),
		challenges:   make(map[string]*challenge),
		qrs:          make(map[string]*qrLogin),
		certs:        make(map[string]*certification),
		sessions:     make(map[string]*session),
		live:         make(map[liveKey]string),
		budgets:      make(map[budgetKey]domain.PhoneBudget),
		outbox:       make(map[string][]SMS),
		smsSent:      make(chan struct{}),
		certValidity: make(map[string]time.Duration),
	}
	for _, r := range cfg.NoSMSRegions {
		s.noSMS[strings.TrimSpace(r)] = true
	}
	return s
}

// Config returns the simulator's rules.
func (s *Simulator) Config() SimConfig {
	c := s.cfg
	c.NoSMSRegions = append([]string(nil), c.NoSMSRegions...)
	return c
}

// SkipsSMS reports whether a login in region skips the SMS step.
func (s *Simulator) SkipsSMS(region string) bool { return s.noSMS[region] }

// sweep drops what ended more than forgetAfter ago and yesterday's budgets,
// at most once per sweepEvery. The caller holds s.mu.
func (s *Simulator) sweep(now time.Time) {
	if now.Sub(s.lastSweep) < sweepEvery {
		return
	}
	s.lastSweep = now
	cut := now.Add(-forgetAfter)
	for id, c := range s.challenges {
		if c.expires.Before(cut) {
			delete(s.challenges, id)
		}
	}
	for id, q := range s.qrs {
		end := q.expires
		if q.session != nil {
			end = q.session.ExpiresAt
		}
		if end.Before(cut) {
			delete(s.qrs, id)
		}
	}
	for id, c := range s.certs {
		end := c.expires
		if c.passed && c.validUntil.After(end) {
			end = c.validUntil
		}
		if end.Before(cut) {
			delete(s.certs, id)
		}
	}
	for _, sess := range s.sessions {
		if sess.ExpiresAt.Before(cut) {
			s.dropSession(sess)
		}
	}
	today := domain.Day(now)
	for k, b := range s.budgets {
		if b.Day != today {
			delete(s.budgets, k)
		}
	}
}

// newID returns prefix plus a random, unguessable suffix.
func newID(prefix string) string { return prefix + strings.ToLower(rand.Text()) }

// randomDigits returns n random decimal digits.
func randomDigits(n int) string {
	b := make([]byte, n)
	ten := big.NewInt(10)
	for i := range b {
		d, err := rand.Int(rand.Reader, ten)
		if err != nil {
			panic("taxbureau: crypto/rand failed: " + err.Error())
		}
		b[i] = '0' + byte(d.Int64())
	}
	return string(b)
}
