package taxbureau

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/etaxd/etaxd/domain"
)

var _ SMSProvider = (*SimSMSProvider)(nil)

// SMSFault is a failure a SimSMSProvider can be told to show.
type SMSFault int

const (
	// SMSFaultNone delivers the real code.
	SMSFaultNone SMSFault = iota
	// SMSFaultTimeout returns domain.ErrHostedCodeTimeout at once, as if no
	// code arrived in time (drives the F13 code-timeout lock).
	SMSFaultTimeout
	// SMSFaultWrongCode waits for the real code and returns a different one
	// of the same length (drives the F13 wrong-code lock).
	SMSFaultWrongCode
)

// SimSMSProvider is the hosted-number provider (华盟托管号码, 企享云办税小号) of a
// Simulator: it reads codes from the simulator's outbox. Create it with
// NewSimSMSProvider. It is safe for concurrent use.
type SimSMSProvider struct {
	sim     *Simulator
	calls   atomic.Int64
	waiting atomic.Int64 // FetchCode calls blocked for a code; for tests

	mu     sync.Mutex
	faults map[string]SMSFault // by login key; "" for every username
}

// NewSimSMSProvider returns a provider reading sim's outbox.
func NewSimSMSProvider(sim *Simulator) *SimSMSProvider {
	return &SimSMSProvider{sim: sim, faults: make(map[string]SMSFault)}
}

// FetchCode implements SMSProvider: it returns the newest code sent at or
// after since to the phone of the person logging in as username, waiting for
// one (without polling) until ctx ends. A timeout, an unknown username or a
// SMSFaultTimeout give domain.ErrHostedCodeTimeout (wrapping the cause); a
// login type that is not hosted gives domain.ErrInvalidLoginType.
func (p *SimSMSProvider) FetchCode(ctx context.Context, loginType domain.LoginType, username string, since time.Time) (string, error) {
	p.calls.Add(1)
	if !loginType.Hosted() {
		return "", domain.ErrInvalidLoginType
	}
	fault := p.faultFor(username)
	if fault == SMSFaultTimeout {
		return "", domain.ErrHostedCodeTimeout
	}
	for {
		code, sent, err := p.sim.codeSince(username, since)
		if err != nil {
			return "", domain.ErrHostedCodeTimeout.Wrap(err)
		}
		if code != "" {
			if fault == SMSFaultWrongCode {
				code = wrongCode(code)
			}
			return code, nil
		}
		p.waiting.Add(1)
		select {
		case <-sent:
			p.waiting.Add(-1)
		case <-ctx.Done():
			p.waiting.Add(-1)
			return "", domain.ErrHostedCodeTimeout.Wrap(ctx.Err())
		}
	}
}

// SetFault makes FetchCode for username show f; username "" sets the fault
// for every username without one of its own. SMSFaultNone clears it.
func (p *SimSMSProvider) SetFault(username string, f SMSFault) {
	k := domain.LoginKey(username)
	p.mu.Lock()
	defer p.mu.Unlock()
	if f == SMSFaultNone {
		delete(p.faults, k)
		return
	}
	p.faults[k] = f
}

func (p *SimSMSProvider) faultFor(username string) SMSFault {
	p.mu.Lock()
	defer p.mu.Unlock()
	if f, ok := p.faults[domain.LoginKey(username)]; ok {
		return f
	}
	return p.faults[""]
}

// Calls is how many times FetchCode was called.
func (p *SimSMSProvider) Calls() int { return int(p.calls.Load()) }

// Waiting is how many FetchCode calls are blocked waiting for a code now.
func (p *SimSMSProvider) Waiting() int { return int(p.waiting.Load()) }

// wrongCode returns a code of the same length that differs in every digit.
func wrongCode(code string) string {
	b := []byte(code)
	for i, c := range b {
		if c >= '0' && c <= '9' {
			b[i] = '0' + (c-'0'+1)%10
		} else {
			b[i] = '0'
		}
	}
	return string(b)
}
