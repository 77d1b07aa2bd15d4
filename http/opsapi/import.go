package opsapi

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/etaxd/etaxd/actors"
	"github.com/etaxd/etaxd/domain"
	"github.com/etaxd/etaxd/importer"
)

// Importer is what the import route needs of the engine.
type Importer interface {
	Tenant(ctx context.Context, tenant string) (actors.TenantInfo, error)
	Enterprises(ctx context.Context, tenant, openid string) ([]actors.EnterpriseView, error)
	Accounts(ctx context.Context, tenant, taxNo, openid string) ([]actors.AccountView, error)
	TenantsOf(ctx context.Context, openid string) ([]actors.TenantInfo, error)
	AddEnterprise(ctx context.Context, tenant, taxNo, name, region string) (actors.EnterpriseView, error)
	AddAccount(ctx context.Context, tenant string, cmd actors.AddAccount) (actors.FlowReply, error)
	AddAccountAwaitingLogin(ctx context.Context, tenant string, cmd actors.AddAccount) (string, error)
	Bind(ctx context.Context, tenant, accountID, openid string) error
}

var _ Importer = (*actors.Engine)(nil)

// MediaNDJSON is the import answer's default media type: one JSON object
// per line, each row's result as it is settled, then {"summary":{…}}.
const MediaNDJSON = "application/x-ndjson"

// ImportLine is one line of the import answer: a row's result, or (last)
// the summary.
type ImportLine struct {
	importer.RowResult
	Summary *importer.Summary `json:"summary,omitempty"`
}

// RegisterImport adds POST /v1/tenants/{id}/import (bulk onboarding, see
// package importer and docs/IMPORT.md) to r, the operator-guarded /ops group.
func RegisterImport(r fiber.Router, e Importer, opts ...Option) {
	im := &imports{api: newAPI(opts), e: e}
	r.Post("/v1/tenants/:id/import", im.run)
}

// newAPI applies opts to the defaults of the route groups that reach the
// engine through an interface of their own (provisioning, import).
func newAPI(opts []Option) *api {
	a := &api{log: slog.Default(), now: time.Now}
	for _, o := range opts {
		o(a)
	}
	return a
}

type imports struct {
	*api
	e Importer
}

// run reads the file (the body, text/csv or the XLSX media type), checks
// every row and the tenant's state, and only then answers: 200, or 422 when
// rows are invalid and skip_invalid was not asked (nothing is written then).
// The body streams every row's result in file order while the good rows
// are written, so a client can show progress.
func (im *imports) run(c *fiber.Ctx) error {
	tenant := param(c, "id")
	dryRun, err1 := boolQuery(c, "dry_run")
	skip, err2 := boolQuery(c, "skip_invalid")
	if err := errors.Join(err1, err2); err != nil {
		return im.fail(c, err)
	}
	format := strings.ToLower(c.Query("format", "ndjson"))
	if format != "ndjson" && format != "csv" {
		return im.fail(c, domain.Invalid("format", "格式须为ndjson或csv"))
	}
	ctx, cancel := im.ctx(c)
	defer cancel()
	if _, err := im.e.Tenant(ctx, tenant); err != nil {
		return im.fail(c, err)
	}
	recs, err := importer.Parse(c.Body(), c.Get(fiber.HeaderContentType))
	if err != nil {
		return im.fail(c, err)
	}
	rows, problems := importer.Validate(recs)
	t := &engineTarget{e: im.e, tenant: tenant}
	plan, err := importer.MakePlan(ctx, t, rows, problems)
	if err != nil {
		return im.fail(c, err)
	}
	status := fiber.StatusOK
	if plan.Invalid() > 0 && !skip {
		status = fiber.StatusUnprocessableEntity
	}
	c.Status(status)
	if format == "csv" {
		c.Set(fiber.HeaderContentType, "text/csv; charset=utf-8")
	} else {
		c.Set(fiber.HeaderContentType, MediaNDJSON)
	}
	log, rid := im.log, c.GetRespHeader(fiber.HeaderXRequestID)
	opts := importer.Options{DryRun: dryRun, SkipInvalid: skip}
	// The writes outlive the handler: the stream writer runs once the
	// headers are out, and the Fiber context is gone by then.
	c.Context().SetBodyStreamWriter(func(w *bufio.Writer) {
		var report *importer.ReportWriter
		if format == "csv" {
			report, _ = importer.NewReportWriter(w)
		}
		enc := json.NewEncoder(w)
		sum, err := importer.Run(context.Background(), t, plan, opts, func(r importer.RowResult) error {
			var err error
			if report != nil {
				err = report.Write(r)
				if err == nil {
					err = report.Flush()
				}
			} else {
				err = enc.Encode(ImportLine{RowResult: r})
			}
			if err == nil {
				err = w.Flush()
			}
			return err
		})
		if err == nil && report == nil {
			err = enc.Encode(ImportLine{Summary: &sum})
		}
		if err == nil {
			err = w.Flush()
		}
		attrs := []any{"request_id", rid, "tenant", tenant, "rows", sum.Rows, "invalid", sum.Invalid, "exists", sum.Exists,
			"created", sum.Created, "awaiting_login", sum.AwaitingLogin, "failed", sum.Failed, "dry_run", sum.DryRun, "written", sum.Written}
		if err != nil {
			log.Warn("ops api: import cut short: the client went away; a re-run picks up the rest", append(attrs, "err", err)...)
			return
		}
		log.Info("ops api: import done", attrs...)
	})
	return nil
}

// boolQuery reads a boolean query parameter: empty is false.
func boolQuery(c *fiber.Ctx, name string) (bool, error) {
	s := c.Query(name)
	if s == "" {
		return false, nil
	}
	v, err := strconv.ParseBool(s)
	if err != nil {
		return false, domain.Invalid(name, name+"须为true或false")
	}
	return v, nil
}

// engineTarget writes an import to a tenant of the engine, as the operator
// (no openid): the rows' own bound_openid are bound afterwards.
type engineTarget struct {
	e      Importer
	tenant string
}

func (t *engineTarget) rowCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, callTimeout)
}

func (t *engineTarget) Existing(ctx context.Context) (map[importer.AccountKey]bool, map[string]bool, error) {
	es, err := t.e.Enterprises(ctx, t.tenant, "")
	if err != nil {
		return nil, nil, err
	}
	as, err := t.e.Accounts(ctx, t.tenant, "", "")
	if err != nil {
		return nil, nil, err
	}
	accounts, enterprises := make(map[importer.AccountKey]bool, len(as)), make(map[string]bool, len(es))
	for _, a := range as {
		accounts[importer.AccountKey{TaxNo: a.TaxNo, Username: a.Username}] = true
	}
	for _, e := range es {
		enterprises[e.TaxNo] = true
	}
	return accounts, enterprises, nil
}

func (t *engineTarget) Linked(ctx context.Context, openid string) (bool, error) {
	ts, err := t.e.TenantsOf(ctx, openid)
	if err != nil {
		return false, err
	}
	for _, ti := range ts {
		if ti.ID == t.tenant {
			return true, nil
		}
	}
	return false, nil
}

func (t *engineTarget) AddEnterprise(ctx context.Context, taxNo, name, region string) error {
	ctx, cancel := t.rowCtx(ctx)
	defer cancel()
	_, err := t.e.AddEnterprise(ctx, t.tenant, taxNo, name, region)
	return err
}

func (t *engineTarget) command(r importer.Row) actors.AddAccount {
	return actors.AddAccount{TaxNo: r.TaxNo, Business: r.Business.String(), Username: r.Username, Password: r.Password,
		LoginType: string(r.LoginType), Role: string(r.Role)}
}

func (t *engineTarget) AddHosted(ctx context.Context, r importer.Row) (string, error) {
	ctx, cancel := t.rowCtx(ctx)
	defer cancel()
	fr, err := t.e.AddAccount(ctx, t.tenant, t.command(r))
	if err != nil {
		return "", err
	}
	if fr.State != actors.FlowDone || fr.AccountID == "" {
		// A hosted number's code is read by its provider: any other end
		// is the bureau's doing.
		return "", domain.ErrBureauUnavailable.With("", "hosted add ended "+string(fr.State))
	}
	return fr.AccountID, nil
}

func (t *engineTarget) AddManual(ctx context.Context, r importer.Row) (string, error) {
	ctx, cancel := t.rowCtx(ctx)
	defer cancel()
	return t.e.AddAccountAwaitingLogin(ctx, t.tenant, t.command(r))
}

func (t *engineTarget) Bind(ctx context.Context, accountID, openid string) error {
	ctx, cancel := t.rowCtx(ctx)
	defer cancel()
	return t.e.Bind(ctx, t.tenant, accountID, openid)
}
