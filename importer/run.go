package importer

import (
	"context"
	"errors"
	"slices"
	"sync"

	"github.com/etaxd/etaxd/domain"
)

// Result is what became of a row.
type Result string

const (
	// ResultInvalid: the row failed a check; nothing of it was written.
	ResultInvalid Result = "invalid"
	// ResultExists: the tenant has an account with the row's tax number
	// and username; nothing was changed.
	ResultExists Result = "exists"
	// ResultValid: a dry run found the row good; it would be added.
	ResultValid Result = "valid"
	// ResultSkipped: the row is good but was not written, because other
	// rows are invalid and invalid rows were not to be skipped.
	ResultSkipped Result = "skipped"
	// ResultCreated: a hosted account was added and verified with the
	// bureau.
	ResultCreated Result = "created"
	// ResultAwaitingLogin: a manual account was added; its first login
	// asks the person for the SMS code through the usual prompt.
	ResultAwaitingLogin Result = "awaiting_login"
	// ResultFailed: the write was refused (the bureau's answer, a busy
	// engine); Code and Message say why. A re-run tries the row again.
	ResultFailed Result = "failed"
)

// RowResult is one row of the report. Code and Message are the catalogue
// error's (for an added row whose binding failed, the binding's error).
type RowResult struct {
	Row       int    `json:"row"`
	TaxNo     string `json:"tax_no"`
	Username  string `json:"username"`
	Result    Result `json:"result"`
	Code      string `json:"code,omitempty"`
	Message   string `json:"message,omitempty"`
	AccountID string `json:"account_id,omitempty"`
}

// Summary counts the results of a file. Written is whether any row was
// to be written (not a dry run, and no invalid row or SkipInvalid).
type Summary struct {
	Rows          int  `json:"rows"`
	Invalid       int  `json:"invalid"`
	Exists        int  `json:"exists"`
	Valid         int  `json:"valid"`
	Skipped       int  `json:"skipped"`
	Created       int  `json:"created"`
	AwaitingLogin int  `json:"awaiting_login"`
	Failed        int  `json:"failed"`
	DryRun        bool `json:"dry_run"`
	Written       bool `json:"written"`
}

// Add counts one row's result.
func (s *Summary) Add(r Result) {
	s.Rows++
	switch r {
	case ResultInvalid:
		s.Invalid++
	case ResultExists:
		s.Exists++
	case ResultValid:
		s.Valid++
	case ResultSkipped:
		s.Skipped++
	case ResultCreated:
		s.Created++
	case ResultAwaitingLogin:
		s.AwaitingLogin++
	case ResultFailed:
		s.Failed++
	}
}

// Target is the tenant an import writes to. The ops API implements it over
// the actors.Engine; every method may fail with a catalogue error.
type Target interface {
	// Existing reports which of the rows' accounts (tax number and
	// username) and enterprises (tax number) the tenant has.
	Existing(ctx context.Context) (accounts map[AccountKey]bool, enterprises map[string]bool, err error)
	// Linked reports whether the WeChat user linked the tenant.
	Linked(ctx context.Context, openid string) (bool, error)
	// AddEnterprise adds an enterprise; domain.ErrEnterpriseExists when
	// it is there already.
	AddEnterprise(ctx context.Context, taxNo, name, region string) error
	// AddHosted adds a hosted account, verified with the bureau, and
	// returns its id.
	AddHosted(ctx context.Context, r Row) (string, error)
	// AddManual creates a manual account waiting for its first login and
	// returns its id.
	AddManual(ctx context.Context, r Row) (string, error)
	// Bind binds an account to a WeChat user of the tenant.
	Bind(ctx context.Context, accountID, openid string) error
}

// AccountKey names an account within a tenant: its tax number and username.
type AccountKey struct{ TaxNo, Username string }

// Plan is the outcome of the checks: the rows to write and the result of
// every other row, before anything is written.
type Plan struct {
	// Write are the good rows that are new, in file order.
	Write []Row
	// Done are the results already known: invalid and existing rows.
	Done []RowResult
	// enterprises the tenant has.
	enterprises map[string]bool
}

// Invalid counts the plan's invalid rows.
func (p *Plan) Invalid() int {
	n := 0
	for _, d := range p.Done {
		if d.Result == ResultInvalid {
			n++
		}
	}
	return n
}

// MakePlan checks the valid rows against the tenant: existing accounts and
// the links of bound_openid. It writes nothing.
func MakePlan(ctx context.Context, t Target, rows []Row, problems []Problem) (*Plan, error) {
	accounts, enterprises, err := t.Existing(ctx)
	if err != nil {
		return nil, err
	}
	p := &Plan{enterprises: enterprises}
	for _, pr := range problems {
		p.Done = append(p.Done, RowResult{Row: pr.Row, TaxNo: pr.TaxNo, Username: pr.Username, Result: ResultInvalid,
			Code: pr.Err.Code, Message: pr.Err.Message})
	}
	linked := map[string]bool{}
	for _, r := range rows {
		if accounts[AccountKey{r.TaxNo, r.Username}] {
			p.Done = append(p.Done, RowResult{Row: r.Row, TaxNo: r.TaxNo, Username: r.Username, Result: ResultExists})
			continue
		}
		if r.BoundOpenID != "" {
			ok, seen := linked[r.BoundOpenID]
			if !seen {
				if ok, err = t.Linked(ctx, r.BoundOpenID); err != nil {
					return nil, err
				}
				linked[r.BoundOpenID] = ok
			}
			if !ok {
				e := domain.ErrNotLinked.With("bound_openid列的微信用户尚未关联该租户", "bound_openid has not linked the tenant")
				p.Done = append(p.Done, RowResult{Row: r.Row, TaxNo: r.TaxNo, Username: r.Username, Result: ResultInvalid, Code: e.Code, Message: e.Message})
				continue
			}
		}
		p.Write = append(p.Write, r)
	}
	return p, nil
}

// Options are how Run writes.
type Options struct {
	// DryRun checks and reports, writing nothing.
	DryRun bool
	// SkipInvalid writes the good rows even when some are invalid;
	// without it one invalid row means nothing is written.
	SkipInvalid bool
	// Parallel is how many rows are written at once (default 4): a
	// hosted row waits for its SMS code.
	Parallel int
}

// Run writes the plan's rows to t and calls emit with every row's result,
// in file order, then returns the summary. When emit fails (the client
// went away), rows not yet started are not written and Run returns emit's
// error; a re-run picks them up.
func Run(ctx context.Context, t Target, p *Plan, o Options, emit func(RowResult) error) (Summary, error) {
	s := Summary{DryRun: o.DryRun, Written: !o.DryRun && (o.SkipInvalid || p.Invalid() == 0)}
	results := map[int]chan RowResult{}
	var order []int
	for _, d := range p.Done {
		c := make(chan RowResult, 1)
		c <- d
		results[d.Row] = c
		order = append(order, d.Row)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	jobs := make(chan Row)
	var wg sync.WaitGroup
	w := &writer{t: t, enterprises: p.enterprises}
	for _, r := range p.Write {
		c := make(chan RowResult, 1)
		results[r.Row] = c
		order = append(order, r.Row)
		switch {
		case o.DryRun:
			c <- RowResult{Row: r.Row, TaxNo: r.TaxNo, Username: r.Username, Result: ResultValid}
		case !s.Written:
			c <- RowResult{Row: r.Row, TaxNo: r.TaxNo, Username: r.Username, Result: ResultSkipped}
		}
	}
	if s.Written {
		n := o.Parallel
		if n <= 0 {
			n = 4
		}
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for r := range jobs {
					results[r.Row] <- w.write(ctx, r)
				}
			}()
		}
		go func() {
			defer close(jobs)
			for _, r := range p.Write {
				select {
				case jobs <- r:
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	slices.Sort(order)
	var err error
	for _, row := range order {
		r := <-results[row]
		s.Add(r.Result)
		if err = emit(r); err != nil {
			break
		}
	}
	cancel()
	wg.Wait()
	return s, err
}

// writer adds rows, each enterprise once.
type writer struct {
	t           Target
	mu          sync.Mutex
	enterprises map[string]bool
	adding      map[string]*sync.Mutex
}

func (w *writer) write(ctx context.Context, r Row) RowResult {
	res := RowResult{Row: r.Row, TaxNo: r.TaxNo, Username: r.Username}
	fail := func(err error) RowResult {
		e := domain.AsError(err)
		if errors.Is(e, domain.ErrAccountExists) {
			res.Result = ResultExists // added meanwhile: by another run
			return res
		}
		res.Result, res.Code, res.Message = ResultFailed, e.Code, e.Message
		return res
	}
	if ctx.Err() != nil {
		return fail(domain.ErrBusy.Wrap(ctx.Err()))
	}
	if err := w.enterprise(ctx, r); err != nil {
		return fail(err)
	}
	var id string
	var err error
	if r.LoginType.Hosted() {
		id, err = w.t.AddHosted(ctx, r)
		res.Result = ResultCreated
	} else {
		id, err = w.t.AddManual(ctx, r)
		res.Result = ResultAwaitingLogin
	}
	if err != nil {
		return fail(err)
	}
	res.AccountID = id
	if r.BoundOpenID != "" {
		if err := w.t.Bind(ctx, id, r.BoundOpenID); err != nil {
			e := domain.AsError(err)
			res.Code, res.Message = e.Code, "账号已添加，但绑定微信失败："+e.Message
		}
	}
	return res
}

// enterprise adds r's enterprise unless the tenant has it; rows of one
// enterprise written at once wait for the first.
func (w *writer) enterprise(ctx context.Context, r Row) error {
	w.mu.Lock()
	if w.enterprises[r.TaxNo] {
		w.mu.Unlock()
		return nil
	}
	if w.adding == nil {
		w.adding = map[string]*sync.Mutex{}
	}
	m := w.adding[r.TaxNo]
	if m == nil {
		m = &sync.Mutex{}
		w.adding[r.TaxNo] = m
	}
	w.mu.Unlock()
	m.Lock()
	defer m.Unlock()
	w.mu.Lock()
	done := w.enterprises[r.TaxNo]
	w.mu.Unlock()
	if done {
		return nil
	}
	err := w.t.AddEnterprise(ctx, r.TaxNo, r.EnterpriseName, r.Region)
	if err != nil && !errors.Is(err, domain.ErrEnterpriseExists) {
		return err
	}
	w.mu.Lock()
	if w.enterprises == nil {
		w.enterprises = map[string]bool{}
	}
	w.enterprises[r.TaxNo] = true
	w.mu.Unlock()
	return nil
}
