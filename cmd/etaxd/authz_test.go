package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/silenceper/wechat/v2/util"

	"github.com/etaxd/etaxd/actors"
	"github.com/etaxd/etaxd/config"
	"github.com/etaxd/etaxd/domain"
	"github.com/etaxd/etaxd/internal/sign"
)

// The authorization matrix: every route etaxd serves (client API, ops API,
// H5, WeChat callback, dev and simulator endpoints) asked by every kind of
// caller, in dev mode and in production mode, each cell with the answer it
// must get. A route the app serves that the table does not name fails the
// test, so a new route cannot slip in unguarded.

// caller is one kind of client of etaxd.
type caller int

const (
	nobody    caller = iota // no credentials at all
	tenantKey               // the demo tenant's own API key
	otherKey                // another tenant's API key
	operator                // the operator: its token (production) or a program on this machine (dev)
	webPage                 // a web page in the operator's browser: cross-site, form-encoded, no token
	rebinding               // a DNS-rebinding page: same-origin to itself, a foreign Host
	unlinked                // a WeChat user signed in to H5, linked to no tenant
	linked                  // a WeChat user linked to the demo tenant, bound to nothing
	bound                   // the WeChat user the target account is bound to
	admin                   // a 数电配置管理员 of the target's enterprise
	nCallers
)

var callerNames = [nCallers]string{"nobody", "tenant-key", "other-key", "operator", "web-page", "rebinding",
	"unlinked", "linked", "bound", "admin"}

// Expected answers. Positive values are exact HTTP statuses; a redirect to
// sign in is its own value because its status differs by mode (303 to the
// dev sign-in, 302 to WeChat's authorize URL).
const (
	signIn = -1 // a redirect to sign in (dev: 303 /h5/dev/signin; production: 302 to WeChat)
)

// cells gives an answer per caller; a caller missing from the map gets def.
type cells struct {
	def int
	by  map[caller]int
}

func (c cells) want(k caller) int {
	if v, ok := c.by[k]; ok {
		return v
	}
	return c.def
}

func all(status int) cells { return cells{def: status} }

func except(def int, by map[caller]int) cells { return cells{def: def, by: by} }

// matrixRoute is one row: a request and its answers in both modes.
type matrixRoute struct {
	route  string // the route as Fiber names it: "METHOD /path/:param"
	method string
	path   string // with the parameters filled in; {tax} {acct} {req} {hook} {key} are the fixture's
	body   string // JSON (or form for H5 POSTs, with {csrf})
	dev    cells
	prod   cells
}

// matrixFixture is what the rows refer to: the demo tenant seeded into a
// stack, a second tenant, and users of every kind.
type matrixFixture struct {
	base      string
	opToken   string
	dev       bool
	demo      *demoFile
	tenantKey [2]string // id, secret
	otherKey  [2]string
	cookies   map[caller]string
	vars      map[string]string
	routes    []fiber.Route
}

func TestAuthorizationMatrix(t *testing.T) {
	for _, dev := range []bool{true, false} {
		name := "production"
		if dev {
			name = "dev"
		}
		t.Run(name, func(t *testing.T) {
			f := newMatrixFixture(t, dev)
			rows := matrixRows()
			checkEveryRouteListed(t, f, rows)
			for _, r := range rows {
				for k := caller(0); k < nCallers; k++ {
					want := r.prod.want(k)
					if dev {
						want = r.dev.want(k)
					}
					t.Run(r.route+"/"+callerNames[k], func(t *testing.T) {
						got, loc, body := f.do(t, r, k)
						if !f.matches(want, got, loc) {
							t.Errorf("%s %s as %s: got %d (location %q), want %s\n%s", r.method, r.path, callerNames[k], got, loc,
								describe(want, dev), truncate(body, 300))
						}
						// No answer to a caller of the wrong tenant carries the
						// demo tenant's accounts.
						if k == otherKey && strings.HasPrefix(r.path, "/api/") && strings.Contains(body, f.vars["acct"]) {
							t.Errorf("%s %s as %s: the answer names the demo tenant's account", r.method, r.path, callerNames[k])
						}
					})
				}
			}
		})
	}
}

func describe(want int, dev bool) string {
	if want == signIn {
		if dev {
			return "303 to /h5/dev/signin"
		}
		return "302 to WeChat's authorize URL"
	}
	return fmt.Sprint(want)
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

func (f *matrixFixture) matches(want, got int, loc string) bool {
	if want != signIn {
		return got == want
	}
	if f.dev {
		return got == http.StatusSeeOther && strings.HasSuffix(loc, "/h5/dev/signin")
	}
	return got == http.StatusFound && strings.HasPrefix(loc, "https://open.weixin.qq.com/")
}

// Statuses by name, for the rows.
const (
	ok        = http.StatusOK
	created   = http.StatusCreated
	accepted  = http.StatusAccepted
	noContent = http.StatusNoContent
	seeOther  = http.StatusSeeOther
	bad       = http.StatusBadRequest
	unauth    = http.StatusUnauthorized
	forbidden = http.StatusForbidden
	notFound  = http.StatusNotFound
)

// The answers shared by many rows.
var (
	// A signed client-API route: the tenant's key is served, another
	// tenant's key sees its own (empty) tenant, nobody else is signed.
	apiRoute = func(own, other int) cells { return except(unauth, map[caller]int{tenantKey: own, otherKey: other}) }
	// The operator surface in production: the token, nothing else.
	opsProd = func(own int) cells { return except(unauth, map[caller]int{operator: own}) }
	// The operator surface in dev mode, and the dev-only pages (not
	// mounted in production): programs on this machine, but never a web
	// page (cross-site) or a rebinding page (foreign Host).
	thisMachine = func(own int) cells {
		return except(own, map[caller]int{webPage: forbidden, rebinding: forbidden})
	}
	// An H5 page any signed-in user may see.
	h5Any = func(signedIn int) cells {
		return except(signIn, map[caller]int{unlinked: signedIn, linked: signedIn, bound: signedIn, admin: signedIn})
	}
	// An H5 page of the demo tenant: its linked users only.
	h5Tenant = func(member, stranger int) cells {
		return except(signIn, map[caller]int{unlinked: stranger, linked: member, bound: member, admin: member})
	}
	// What an H5 page's script polls: 401 instead of a redirect.
	h5JSON = func(allowed, refused, stranger int) cells {
		return except(unauth, map[caller]int{unlinked: stranger, linked: refused, bound: allowed, admin: allowed})
	}
	// An H5 page of the target account, which is bound: its bound user and
	// the enterprise's admins only.
	h5Account = func(allowed, refused, stranger int) cells {
		return except(signIn, map[caller]int{unlinked: stranger, linked: refused, bound: allowed, admin: allowed})
	}
)

func matrixRows() []matrixRoute {
	tenantPage := "/h5/tenants/demo/enterprises/{tax}"
	acctPage := tenantPage + "/accounts/{acct}"
	rows := []matrixRoute{
		// Probes: anyone.
		{route: "GET /healthz", method: "GET", path: "/healthz", dev: all(ok), prod: all(ok)},
		{route: "GET /readyz", method: "GET", path: "/readyz", dev: all(ok), prod: all(ok)},

		// The client API: signed with a tenant's key.
		{route: "POST /api/v1/sessions", method: "POST", path: "/api/v1/sessions",
			body: `{"tax_no":"{tax}","business":"issue","action":"login"}`,
			dev:  apiRoute(ok, notFound), prod: apiRoute(ok, notFound)},
		{route: "POST /api/v1/sessions/invalid", method: "POST", path: "/api/v1/sessions/invalid",
			body: `{"account_id":"{acct}","channel":"issue","token":"not-the-token"}`,
			dev:  apiRoute(ok, notFound), prod: apiRoute(ok, notFound)},
		{route: "GET /api/v1/requests/:id", method: "GET", path: "/api/v1/requests/{req}",
			dev: apiRoute(accepted, notFound), prod: apiRoute(accepted, notFound)},
		{route: "POST /api/v1/requests/:id/answer", method: "POST", path: "/api/v1/requests/{req}/answer",
			body: `{"sms_code":"123456"}`,
			dev:  apiRoute(http.StatusConflict, notFound), prod: apiRoute(http.StatusConflict, notFound)},
		{route: "GET /api/v1/accounts", method: "GET", path: "/api/v1/accounts?tax_no={tax}",
			dev: apiRoute(ok, ok), prod: apiRoute(ok, ok)},
		{route: "GET /api/v1/audit", method: "GET", path: "/api/v1/audit",
			dev: apiRoute(ok, ok), prod: apiRoute(ok, ok)},
		{route: "POST /api/v1/webhooks", method: "POST", path: "/api/v1/webhooks",
			body: `{"url":"http://{listen}/ops/v1/tenants/demo/rotate-code","events":["session.ready"]}`,
			dev:  apiRoute(bad, bad), prod: apiRoute(bad, bad)},
		{route: "GET /api/v1/webhooks", method: "GET", path: "/api/v1/webhooks",
			dev: apiRoute(ok, ok), prod: apiRoute(ok, ok)},
		{route: "DELETE /api/v1/webhooks/:id", method: "DELETE", path: "/api/v1/webhooks/{hook}",
			dev: apiRoute(noContent, notFound), prod: apiRoute(noContent, notFound)},

		// The operator surface.
		{route: "GET /ops/status", method: "GET", path: "/ops/status", dev: thisMachine(ok), prod: opsProd(ok)},
		{route: "GET /ops/cluster", method: "GET", path: "/ops/cluster", dev: thisMachine(ok), prod: opsProd(ok)},
		{route: "GET /metrics", method: "GET", path: "/metrics", dev: thisMachine(ok), prod: opsProd(ok)},
		{route: "GET /dev/inbox", method: "GET", path: "/dev/inbox?openid=o_demo_openid", dev: thisMachine(ok), prod: all(notFound)},
		{route: "GET /ops/v1/tenants", method: "GET", path: "/ops/v1/tenants", dev: thisMachine(ok), prod: opsProd(ok)},
		{route: "POST /ops/v1/tenants", method: "POST", path: "/ops/v1/tenants", body: `{"name":"新租户"}`,
			dev: thisMachine(created), prod: opsProd(created)},
		{route: "POST /ops/v1/tenants/:id/rotate-code", method: "POST", path: "/ops/v1/tenants/nosuch/rotate-code", body: `{}`,
			dev: thisMachine(notFound), prod: opsProd(notFound)},
		{route: "GET /ops/v1/tenants/:id/apikeys", method: "GET", path: "/ops/v1/tenants/demo/apikeys", dev: thisMachine(ok), prod: opsProd(ok)},
		{route: "POST /ops/v1/tenants/:id/apikeys", method: "POST", path: "/ops/v1/tenants/nosuch/apikeys", body: `{}`,
			dev: thisMachine(notFound), prod: opsProd(notFound)},
		{route: "DELETE /ops/v1/apikeys/:id", method: "DELETE", path: "/ops/v1/apikeys/nosuch",
			dev: thisMachine(notFound), prod: opsProd(notFound)},
		{route: "GET /ops/v1/tenants/:id/audit", method: "GET", path: "/ops/v1/tenants/demo/audit", dev: thisMachine(ok), prod: opsProd(ok)},
		{route: "GET /ops/v1/store/dump", method: "GET", path: "/ops/v1/store/dump", dev: thisMachine(ok), prod: opsProd(ok)},
		{route: "GET /ops/v1/tenants/:id/enterprises", method: "GET", path: "/ops/v1/tenants/demo/enterprises", dev: thisMachine(ok), prod: opsProd(ok)},
		{route: "POST /ops/v1/tenants/:id/enterprises", method: "POST", path: "/ops/v1/tenants/nosuch/enterprises",
			body: `{"tax_no":"{tax}","name":"x","region":"44"}`, dev: thisMachine(notFound), prod: opsProd(notFound)},
		{route: "POST /ops/v1/tenants/:id/links", method: "POST", path: "/ops/v1/tenants/demo/links",
			body: `{"openid":"o_oplink_{caller}","activation_code":"{code}"}`, dev: thisMachine(ok), prod: opsProd(ok)},
		{route: "POST /ops/v1/tenants/:id/accounts", method: "POST", path: "/ops/v1/tenants/nosuch/accounts",
			body: `{"openid":"o_x","tax_no":"{tax}","business":"issue","username":"u","password":"p","role":"01","login_type":"manual"}`,
			dev:  thisMachine(notFound), prod: opsProd(notFound)},
		{route: "POST /ops/v1/tenants/:id/flows/:flow/code", method: "POST", path: "/ops/v1/tenants/nosuch/flows/nosuch/code",
			body: `{"openid":"o_x","code":"123456"}`, dev: thisMachine(notFound), prod: opsProd(notFound)},
		{route: "POST /ops/v1/tenants/:id/accounts/:account/bind", method: "POST", path: "/ops/v1/tenants/nosuch/accounts/nosuch/bind",
			body: `{"openid":"o_x"}`, dev: thisMachine(notFound), prod: opsProd(notFound)},
		{route: "POST /ops/v1/tenants/:id/accounts/:account/default", method: "POST", path: "/ops/v1/tenants/nosuch/accounts/nosuch/default",
			body: `{"openid":"o_x","which":"issue"}`, dev: thisMachine(notFound), prod: opsProd(notFound)},
		{route: "POST /ops/v1/tenants/:id/accounts/:account/unlock", method: "POST", path: "/ops/v1/tenants/nosuch/accounts/nosuch/unlock",
			body: `{"openid":"o_x"}`, dev: thisMachine(notFound), prod: opsProd(notFound)},
		{route: "POST /ops/v1/tenants/:id/import", method: "POST", path: "/ops/v1/tenants/nosuch/import", body: `{}`,
			dev: thisMachine(notFound), prod: opsProd(notFound)},
		{route: "DELETE /ops/v1/tenants/:id/accounts/:account", method: "DELETE", path: "/ops/v1/tenants/nosuch/accounts/nosuch", body: `{"openid":"o_x"}`,
			dev: thisMachine(notFound), prod: opsProd(notFound)},

		// The simulator's test endpoints: dev mode, this machine, no pages.
		{route: "GET /sim/v1/sms", method: "GET", path: "/sim/v1/sms?phone=13900000001", dev: thisMachine(ok), prod: all(notFound)},
		{route: "ALL /sim/v1/*", method: "GET", path: "/sim/v1/nosuch", dev: thisMachine(notFound), prod: all(notFound)},
		{route: "POST /sim/v1/persons", method: "POST", path: "/sim/v1/persons", body: `{}`, dev: thisMachine(bad), prod: all(notFound)},

		// H5: the dev sign-in (dev mode without WeChat only), WeChat's
		// OAuth2 return (production, with WeChat), a login link.
		{route: "GET /h5/dev/signin", method: "GET", path: "/h5/dev/signin", dev: thisMachine(ok), prod: all(notFound)},
		{route: "POST /h5/dev/signin", method: "POST", path: "/h5/dev/signin", body: "openid=o_demo_openid",
			dev: thisMachine(seeOther), prod: all(notFound)},
		{route: "GET /h5/dev/inbox", method: "GET", path: "/h5/dev/inbox", dev: thisMachine(ok), prod: all(notFound)},
		{route: "GET /h5/wx/oauth", method: "GET", path: "/h5/wx/oauth?code=c&state=s", dev: all(notFound), prod: all(bad)},
		{route: "GET /h5/login", method: "GET", path: "/h5/login?link=forged", dev: all(forbidden), prod: all(forbidden)},

		// H5 pages.
		{route: "GET /h5/", method: "GET", path: "/h5/", dev: h5Any(ok), prod: h5Any(ok)},
		{route: "GET /h5/tenants", method: "GET", path: "/h5/tenants", dev: h5Any(ok), prod: h5Any(ok)},
		{route: "GET /h5/tenants/:id/audit", method: "GET", path: "/h5/tenants/demo/audit",
			dev: h5Tenant(ok, forbidden), prod: h5Tenant(ok, forbidden)},
		{route: "GET /h5/tenants/:id/unlink", method: "GET", path: "/h5/tenants/demo/unlink",
			dev: h5Tenant(ok, forbidden), prod: h5Tenant(ok, forbidden)},
		{route: "GET /h5/tenants/:id/enterprises/:tax_no", method: "GET", path: tenantPage,
			dev: h5Tenant(ok, forbidden), prod: h5Tenant(ok, forbidden)},
		{route: "GET /h5/tenants/:id/enterprises/:tax_no/add", method: "GET", path: tenantPage + "/add",
			dev: h5Tenant(ok, forbidden), prod: h5Tenant(ok, forbidden)},
		{route: "GET /h5/tenants/:id/enterprises/:tax_no/admin", method: "GET", path: tenantPage + "/admin",
			dev: h5Tenant(ok, forbidden), prod: h5Tenant(ok, forbidden)},
		{route: "GET /h5/tenants/:id/enterprises/:tax_no/admin/apply", method: "GET", path: tenantPage + "/admin/apply",
			dev: h5Tenant(ok, forbidden), prod: h5Tenant(ok, forbidden)},
		{route: "GET /h5/tenants/:id/enterprises/:tax_no/accounts/:aid/default", method: "GET", path: acctPage + "/default",
			dev: h5Account(ok, forbidden, forbidden), prod: h5Account(ok, forbidden, forbidden)},
		{route: "GET /h5/tenants/:id/enterprises/:tax_no/accounts/:aid/delete", method: "GET", path: acctPage + "/delete",
			dev: h5Account(ok, forbidden, forbidden), prod: h5Account(ok, forbidden, forbidden)},
		{route: "GET /h5/tenants/:id/enterprises/:tax_no/accounts/:aid/password", method: "GET", path: acctPage + "/password",
			dev: h5Account(ok, forbidden, forbidden), prod: h5Account(ok, forbidden, forbidden)},
		{route: "GET /h5/tenants/:id/enterprises/:tax_no/accounts/:aid/password/reset", method: "GET", path: acctPage + "/password/reset",
			dev: h5Account(ok, forbidden, forbidden), prod: h5Account(ok, forbidden, forbidden)},
		{route: "GET /h5/tenants/:id/enterprises/:tax_no/accounts/:aid/password/update", method: "GET", path: acctPage + "/password/update",
			dev: h5Account(ok, forbidden, forbidden), prod: h5Account(ok, forbidden, forbidden)},
		// 更换微信 is for the users who are NOT bound (F8).
		{route: "GET /h5/tenants/:id/enterprises/:tax_no/accounts/:aid/rebind", method: "GET", path: acctPage + "/rebind",
			dev: h5Tenant(ok, forbidden), prod: h5Tenant(ok, forbidden)},
		{route: "GET /h5/tenants/:id/enterprises/:tax_no/accounts/:aid/login", method: "GET", path: acctPage + "/login",
			dev: h5Account(ok, forbidden, forbidden), prod: h5Account(ok, forbidden, forbidden)},
		// Unlocking an unlocked account changes nothing: the bound user and
		// admins are answered with the page again.
		{route: "POST /h5/tenants/:id/enterprises/:tax_no/accounts/:aid/:action", method: "POST", path: acctPage + "/unlock",
			body: "_csrf={csrf}", dev: h5Account(seeOther, forbidden, forbidden), prod: h5Account(seeOther, forbidden, forbidden)},
		{route: "POST /h5/tenants/:id/enterprises/:tax_no/accounts/:aid/login", method: "POST", path: acctPage + "/login",
			body: "_csrf={csrf}&channel=issue&action=login", dev: h5Account(seeOther, forbidden, forbidden), prod: h5Account(seeOther, forbidden, forbidden)},
		{route: "POST /h5/tenants/:id/enterprises/:tax_no/accounts/:aid/qr", method: "POST", path: acctPage + "/qr",
			body: "_csrf={csrf}&business=issue&app=nosuch", dev: h5Account(bad, forbidden, forbidden), prod: h5Account(bad, forbidden, forbidden)},
		{route: "GET /h5/tenants/:id/enterprises/:tax_no/accounts/:aid/qr/:qid/status", method: "GET", path: acctPage + "/qr/nosuch/status",
			dev: h5JSON(bad, forbidden, forbidden), prod: h5JSON(bad, forbidden, forbidden)},
		// Changing what a POST changes for good is tried on targets that do
		// not exist: a member is told so, a stranger is refused first.
		{route: "POST /h5/tenants/:id/unlink", method: "POST", path: "/h5/tenants/nosuch/unlink", body: "_csrf={csrf}",
			dev: h5Any(forbidden), prod: h5Any(forbidden)},
		{route: "POST /h5/tenants/:id/enterprises/:tax_no/add", method: "POST", path: tenantPage + "/add", body: "_csrf={csrf}",
			dev: h5Tenant(bad, forbidden), prod: h5Tenant(bad, forbidden)},
		{route: "POST /h5/tenants/:id/enterprises/:tax_no/flows/:fid", method: "POST", path: tenantPage + "/flows/nosuch",
			body: "_csrf={csrf}&code=123456", dev: h5Tenant(bad, forbidden), prod: h5Tenant(bad, forbidden)},
		{route: "POST /h5/tenants/:id/enterprises/:tax_no/flows/:fid/password", method: "POST", path: tenantPage + "/flows/nosuch/password",
			body: "_csrf={csrf}&password=x&confirm=x", dev: h5Tenant(bad, forbidden), prod: h5Tenant(bad, forbidden)},
		{route: "GET /h5/tenants/:id/enterprises/:tax_no/flows/:fid/status", method: "GET", path: tenantPage + "/flows/nosuch/status",
			dev: h5JSON(bad, bad, forbidden), prod: h5JSON(bad, bad, forbidden)},
		{route: "POST /h5/tenants/:id/enterprises/:tax_no/accounts/:aid/default", method: "POST", path: acctPage + "/default",
			body: "_csrf={csrf}&which=both", dev: h5Account(seeOther, forbidden, forbidden), prod: h5Account(seeOther, forbidden, forbidden)},
		{route: "POST /h5/tenants/:id/enterprises/:tax_no/accounts/:aid/delete", method: "POST", path: tenantPage + "/accounts/nosuch/delete",
			body: "_csrf={csrf}", dev: h5Tenant(notFound, forbidden), prod: h5Tenant(notFound, forbidden)},
		{route: "POST /h5/tenants/:id/enterprises/:tax_no/admin/apply", method: "POST", path: tenantPage + "/admin/apply",
			body: "_csrf={csrf}", dev: h5Tenant(bad, forbidden), prod: h5Tenant(bad, forbidden)},
		{route: "POST /h5/tenants/:id/enterprises/:tax_no/admin/stepdown", method: "POST", path: "/h5/tenants/demo/enterprises/nosuch/admin/stepdown",
			body: "_csrf={csrf}", dev: h5Tenant(notFound, forbidden), prod: h5Tenant(notFound, forbidden)},
		{route: "POST /h5/tenants/:id/enterprises/:tax_no/accounts/:aid/rebind", method: "POST", path: acctPage + "/rebind",
			body: "_csrf={csrf}", dev: h5Tenant(bad, forbidden), prod: h5Tenant(bad, forbidden)},
		{route: "POST /h5/tenants/:id/enterprises/:tax_no/accounts/:aid/password/reset", method: "POST", path: acctPage + "/password/reset",
			body: "_csrf={csrf}", dev: h5Account(bad, forbidden, forbidden), prod: h5Account(bad, forbidden, forbidden)},
		{route: "POST /h5/tenants/:id/enterprises/:tax_no/accounts/:aid/password/update", method: "POST", path: acctPage + "/password/update",
			body: "_csrf={csrf}", dev: h5Account(bad, forbidden, forbidden), prod: h5Account(bad, forbidden, forbidden)},

		{route: "GET /h5/tenants/:id/enterprises/:tax_no/accounts/:aid/edit", method: "GET", path: acctPage + "/edit",
			dev: h5Account(ok, forbidden, forbidden), prod: h5Account(ok, forbidden, forbidden)},
		// 解绑企业 lists the caller's own bound accounts: any member may ask.
		{route: "GET /h5/tenants/:id/enterprises/:tax_no/unbind", method: "GET", path: tenantPage + "/unbind",
			dev: h5Tenant(ok, forbidden), prod: h5Tenant(ok, forbidden)},
		{route: "POST /h5/tenants/:id/enterprises/:tax_no/unbind", method: "POST", path: "/h5/tenants/demo/enterprises/nosuch/unbind",
			body: "_csrf={csrf}", dev: h5Tenant(notFound, forbidden), prod: h5Tenant(notFound, forbidden)},
		{route: "POST /h5/tenants/:id/enterprises/:tax_no/flows/:fid/resend", method: "POST", path: tenantPage + "/flows/nosuch/resend",
			body: "_csrf={csrf}", dev: h5Tenant(bad, forbidden), prod: h5Tenant(bad, forbidden)},
		// The prompt page a WeChat message opens: the bound user and the
		// enterprise's admins (B5 escalation).
		{route: "GET /h5/prompt/:tenant/:account/:pid", method: "GET", path: "/h5/prompt/demo/{acct}/{prompt}",
			dev: h5Account(ok, forbidden, forbidden), prod: h5Account(ok, forbidden, forbidden)},
		{route: "GET /h5/prompt/:tenant/:account/:pid/status", method: "GET", path: "/h5/prompt/demo/{acct}/{prompt}/status",
			dev: h5JSON(ok, forbidden, forbidden), prod: h5JSON(ok, forbidden, forbidden)},
		{route: "POST /h5/prompt/:tenant/:account/:pid", method: "POST", path: "/h5/prompt/demo/{acct}/{prompt}",
			body: "_csrf={csrf}&code=12", dev: h5Account(bad, forbidden, forbidden), prod: h5Account(bad, forbidden, forbidden)},
		{route: "POST /h5/prompt/:tenant/:account/:pid/resend", method: "POST", path: "/h5/prompt/demo/{acct}/{prompt}/resend",
			body: "_csrf={csrf}", dev: h5Account(bad, forbidden, forbidden), prod: h5Account(bad, forbidden, forbidden)},
		{route: "POST /h5/prompt/:tenant/:account/:pid/confirm", method: "POST", path: "/h5/prompt/demo/{acct}/nosuch/confirm",
			body: "_csrf={csrf}", dev: h5Account(seeOther, forbidden, forbidden), prod: h5Account(seeOther, forbidden, forbidden)},
		// The login-link page (F16): the signed link is the credential.
		{route: "POST /h5/login", method: "POST", path: "/h5/login?link=forged", body: "code=123456",
			dev: all(forbidden), prod: all(forbidden)},
		{route: "POST /h5/login/resend", method: "POST", path: "/h5/login/resend?link=forged", body: "x=1",
			dev: all(forbidden), prod: all(forbidden)},
		{route: "POST /h5/login/confirm", method: "POST", path: "/h5/login/confirm?link=forged", body: "x=1",
			dev: all(forbidden), prod: all(forbidden)},
		{route: "GET /h5/login/status", method: "GET", path: "/h5/login/status?link=forged",
			dev: all(forbidden), prod: all(forbidden)},
		// A POST without the form's CSRF token is refused before anything.
		{route: "POST /h5/tenants", method: "POST", path: "/h5/tenants", body: "code=nope",
			dev: h5Any(forbidden), prod: h5Any(forbidden)},

		// WeChat's callback: production (an official account) only, and only
		// what WeChat signed.
		{route: "ALL /wx/callback", method: "GET", path: "/wx/callback?signature=forged&timestamp=1&nonce=n&echostr=e",
			dev: all(notFound), prod: all(forbidden)},
		{route: "POST /wx/callback", method: "POST", path: "/wx/callback?signature=forged&timestamp=1&nonce=n",
			body: "<xml></xml>", dev: all(notFound), prod: all(forbidden)},
	}
	return rows
}

// checkEveryRouteListed fails when the app serves a route the matrix does
// not name (HEAD routes Fiber adds for GETs aside).
func checkEveryRouteListed(t *testing.T, f *matrixFixture, rows []matrixRoute) {
	t.Helper()
	listed := map[string]bool{}
	for _, r := range rows {
		listed[r.route] = true
	}
	for _, r := range f.routes {
		if r.Method == fiber.MethodHead || r.Method == "USE" {
			continue
		}
		name := r.Method + " " + r.Path
		// app.All mounts every method: "ALL /path" names them all.
		if !listed[name] && !listed["ALL "+r.Path] {
			t.Errorf("route %s is served but not in the authorization matrix", name)
		}
	}
}

// fakeWeChatAPI answers the WeChat API calls etaxd makes: the stable access
// token and the OAuth2 code exchange, whose code "code-OPENID" signs in as
// OPENID. Any other call fails the test.
type fakeWeChatAPI struct{ t *testing.T }

func (f fakeWeChatAPI) RoundTrip(r *http.Request) (*http.Response, error) {
	var body string
	switch r.URL.Path {
	case "/cgi-bin/stable_token", "/cgi-bin/token":
		body = `{"access_token":"fake-access-token","expires_in":7200}`
	case "/cgi-bin/message/template/send":
		// The prompts of the fixture's requests, sent to the bound user.
		body = `{"errcode":0,"errmsg":"ok","msgid":1}`
	case "/sns/oauth2/access_token":
		openid := strings.TrimPrefix(r.URL.Query().Get("code"), "code-")
		body = fmt.Sprintf(`{"access_token":"u","expires_in":7200,"refresh_token":"r","openid":%q,"scope":"snsapi_base"}`, openid)
	default:
		f.t.Errorf("unexpected WeChat API call %s %s", r.Method, r.URL.Path)
		body = `{"errcode":40001,"errmsg":"unexpected"}`
	}
	return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(strings.NewReader(body)), Request: r}, nil
}

func newMatrixFixture(t *testing.T, dev bool) *matrixFixture {
	t.Helper()
	o := testOptions(t.TempDir())
	o.LogLevel = "warn"
	o.Dev = dev
	f := &matrixFixture{dev: dev, cookies: map[caller]string{}, vars: map[string]string{}}
	if !dev {
		t.Setenv(o.KeysEnv, testMasterKeys)
		o.TaxBureau.URL = config.SimURL
		f.opToken = "matrix-operator-token-0123456789"
		o.OperatorToken = f.opToken
		o.WeChat.AppID, o.WeChat.AppSecret, o.WeChat.Token, o.WeChat.TemplateID = "wxmatrix", "secret", "matrixtoken", "tpl"
		old := util.DefaultHTTPClient
		util.DefaultHTTPClient = &http.Client{Transport: fakeWeChatAPI{t}}
		t.Cleanup(func() { util.DefaultHTTPClient = old })
	}
	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		t.Fatal(err)
	}
	o.Listen = ln.Addr().String()
	o.PublicURL = "http://" + o.Listen
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	st, err := openStack(o, slog.New(slog.DiscardHandler))
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	app, err := newApp(st, st.httpDeps(context.Background(), func() bool { return true }, time.Now()), slog.New(slog.DiscardHandler))
	if err != nil {
		ln.Close()
		_ = st.Close()
		t.Fatal(err)
	}
	f.routes = app.GetRoutes(true)
	go func() { _ = app.Listener(ln) }()
	t.Cleanup(func() {
		_ = app.ShutdownWithTimeout(5 * time.Second)
		closeStack(t, st)
	})
	f.base = "http://" + o.Listen
	f.vars["listen"] = o.Listen

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	df, err := seedDemo(ctx, st, o.DemoPath())
	if err != nil {
		t.Fatal(err)
	}
	f.demo = df
	f.tenantKey = [2]string{df.APIKeyID, df.APIKeySecret}

	// The target: the 广东 enterprise's account (no SMS step there), bound
	// to the demo user.
	gd := df.Enterprises[1]
	f.vars["tax"] = gd.TaxNo
	accts, err := st.engine.Accounts(ctx, df.TenantID, gd.TaxNo, df.OpenID)
	if err != nil || len(accts) != 1 || accts[0].BoundOpenID != df.OpenID {
		t.Fatalf("the 广东 demo account: %+v, %v", accts, err)
	}
	f.vars["acct"] = accts[0].ID
	f.vars["code"] = df.ActivationCode

	// Another tenant with a key of its own.
	if _, err := st.engine.CreateTenant(ctx, "other", "其他租户", ""); err != nil {
		t.Fatal(err)
	}
	otherSecret := "other-tenant-secret-0123456789abcdef"
	if _, err := st.engine.CreateAPIKey(ctx, "other", "other-key", otherSecret); err != nil {
		t.Fatal(err)
	}
	f.otherKey = [2]string{"other-key", otherSecret}

	// Users: a linked one, an admin of the 广东 enterprise (its 法定代表人's
	// password, no SMS step in region 44), a stranger.
	for _, openid := range []string{"o_matrix_linked", "o_matrix_admin"} {
		if _, err := st.engine.LinkTenant(ctx, openid, df.ActivationCode); err != nil {
			t.Fatalf("link %s: %v", openid, err)
		}
	}
	reply, err := st.engine.ApplyAdmin(ctx, df.TenantID, gd.TaxNo, "o_matrix_admin", "zhangfaren", domain.NewSecret("Demo@2026zf"))
	if err != nil || reply.State != actors.FlowDone {
		t.Fatalf("apply admin: %+v, %v", reply, err)
	}
	for k, openid := range map[caller]string{unlinked: "o_matrix_stranger", linked: "o_matrix_linked", bound: df.OpenID,
		admin: "o_matrix_admin"} {
		f.cookies[k] = f.signIn(t, openid)
	}

	// A request of the demo tenant for the request routes, a webhook to
	// delete.
	f.vars["req"], f.vars["prompt"] = f.demoRequest(t)
	f.vars["hook"] = f.demoWebhook(t, st)
	return f
}

var setCookieRE = regexp.MustCompile(`^(etaxd_h5=[^;]+)`)

// signIn signs openid in to H5 as a browser would: the dev sign-in, or
// WeChat's OAuth2 round trip through the fake WeChat API.
func (f *matrixFixture) signIn(t *testing.T, openid string) string {
	t.Helper()
	client := noRedirects()
	var resp *http.Response
	var err error
	if f.dev {
		resp, err = client.PostForm(f.base+"/h5/dev/signin", url.Values{"openid": {openid}})
	} else {
		resp, err = client.Get(f.base + "/h5/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		loc, perr := url.Parse(resp.Header.Get("Location"))
		if perr != nil || resp.StatusCode != http.StatusFound {
			t.Fatalf("OAuth start: %d %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		req, _ := http.NewRequest("GET", f.base+"/h5/wx/oauth?code=code-"+url.QueryEscape(openid)+"&state="+loc.Query().Get("state"), nil)
		for _, c := range resp.Cookies() {
			req.AddCookie(c)
		}
		resp, err = client.Do(req)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	for _, c := range resp.Cookies() {
		if c.Name == "etaxd_h5" && c.Value != "" {
			return c.Name + "=" + c.Value
		}
	}
	t.Fatalf("sign in as %s: %d, no session cookie", openid, resp.StatusCode)
	return ""
}

// demoRequest asks for a certification of the target account, which waits
// for its person's face, and returns the request and prompt ids.
func (f *matrixFixture) demoRequest(t *testing.T) (string, string) {
	t.Helper()
	body := fmt.Sprintf(`{"tax_no":%q,"business":"issue","action":"certify"}`, f.vars["tax"])
	status, _, answer := f.send(t, "POST", "/api/v1/sessions", body, tenantKey, "")
	var r struct {
		RequestID string `json:"request_id"`
		Prompt    struct {
			ID string `json:"id"`
		} `json:"prompt"`
	}
	if err := json.Unmarshal([]byte(answer), &r); err != nil || r.RequestID == "" || r.Prompt.ID == "" {
		t.Fatalf("demo request: %d %s", status, answer)
	}
	return r.RequestID, r.Prompt.ID
}

// demoWebhook registers a webhook of the demo tenant at a public address
// (nothing is ever delivered: no event of that kind happens in the test).
func (f *matrixFixture) demoWebhook(t *testing.T, st *stack) string {
	t.Helper()
	status, _, answer := f.send(t, "POST", "/api/v1/webhooks", `{"url":"https://203.0.113.7/hook","events":["account.locked"]}`, tenantKey, "")
	var r struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal([]byte(answer), &r); err != nil || r.ID == "" {
		t.Fatalf("demo webhook: %d %s", status, answer)
	}
	return r.ID
}

func noRedirects() *http.Client {
	return &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
}

func (f *matrixFixture) expand(s string) string {
	for k, v := range f.vars {
		s = strings.ReplaceAll(s, "{"+k+"}", v)
	}
	return s
}

// do sends the row's request as caller k and returns the status, the
// Location header and the body.
func (f *matrixFixture) do(t *testing.T, r matrixRoute, k caller) (int, string, string) {
	t.Helper()
	body := strings.ReplaceAll(f.expand(r.body), "{caller}", callerNames[k])
	if strings.Contains(body, "{csrf}") {
		body = strings.ReplaceAll(body, "{csrf}", f.csrf(t, k))
	}
	return f.send(t, r.method, f.expand(r.path), body, k, "")
}

var csrfRE = regexp.MustCompile(`name="_csrf" value="([0-9a-f]+)"`)

// csrf is the form token of caller k's session, read from a page as a
// browser would ("" for callers without a session).
func (f *matrixFixture) csrf(t *testing.T, k caller) string {
	t.Helper()
	if f.cookies[k] == "" {
		return ""
	}
	_, _, page := f.send(t, "GET", "/h5/tenants", "", k, "")
	m := csrfRE.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no CSRF token on /h5/tenants for %s", callerNames[k])
	}
	return m[1]
}

func (f *matrixFixture) send(t *testing.T, method, path, body string, k caller, _ string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequest(method, f.base+path, bytes.NewReader([]byte(body)))
	if err != nil {
		t.Fatal(err)
	}
	form := strings.HasPrefix(path, "/h5/") && method == "POST"
	switch {
	case body == "":
	case form:
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	default:
		req.Header.Set("Content-Type", "application/json")
	}
	switch k {
	case tenantKey, otherKey:
		key := f.tenantKey
		if k == otherKey {
			key = f.otherKey
		}
		for h, v := range sign.Headers(key[0], []byte(key[1]), method, path, []byte(body), time.Now()) {
			req.Header.Set(h, v)
		}
	case operator:
		if f.opToken != "" {
			req.Header.Set("Authorization", "Bearer "+f.opToken)
		}
	case webPage:
		// What a page on another site can send without a preflight.
		req.Header.Set("Origin", "http://attacker.example")
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		if body != "" {
			req.Header.Set("Content-Type", "text/plain")
		}
	case rebinding:
		req.Host = "attacker.example:" + f.base[strings.LastIndex(f.base, ":")+1:]
	default:
		if c := f.cookies[k]; c != "" {
			req.Header.Set("Cookie", c)
		}
	}
	resp, err := noRedirects().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Location"), string(b)
}
