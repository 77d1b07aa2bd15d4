package h5

import (
	"fmt"
	"net/url"
	"strconv"
	"testing"

	"github.com/etaxd/etaxd/actors"
	"github.com/etaxd/etaxd/domain"
)

// wantWait checks a refusal page: 429, a Retry-After in seconds and the
// message of want.
func wantWait(t *testing.T, r resp, want *domain.Error) {
	t.Helper()
	if r.status != 429 {
		t.Fatalf("status = %d, want 429: %s", r.status, r.body)
	}
	if s, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || s <= 0 {
		t.Fatalf("Retry-After = %q", r.header.Get("Retry-After"))
	}
	mustContain(t, r, want.Message)
}

// TestPasswordGuardPage: a linked user who is no admin guesses 李财务's
// password on 申请绑定; the third try is refused by etaxd with 429 and
// Retry-After, and the bureau never locks the password.
func TestPasswordGuardPage(t *testing.T) {
	f := newFixture(t)
	me := f.linked("o_attacker")
	f.addPerson("李财务", "licai", "13800000041", "110101199001011245", domain.RoleFinanceManager, f.gd)
	ent := "/h5/tenants/acme/enterprises/" + f.gd
	for i := 0; i < 2; i++ {
		r := f.post(me, ent+"/admin/apply", ent+"/admin/apply", url.Values{"username": {"licai"}, "password": {fmt.Sprintf("Guess@%04d", i)}})
		if r.status != 400 {
			t.Fatalf("wrong password %d = %d %s", i, r.status, r.body)
		}
		mustContain(t, r, domain.ErrWrongPassword.Message)
	}
	r := f.post(me, ent+"/admin/apply", ent+"/admin/apply", url.Values{"username": {"licai"}, "password": {"Guess@0002"}})
	wantWait(t, r, domain.ErrPasswordGuard)
	if f.sim.PasswordLocked("licai") {
		t.Fatal("the bureau locked licai's password")
	}
}

// TestActivationPerAddressPage: fresh openids from one address do not reset
// the limit on wrong activation codes.
func TestActivationPerAddressPage(t *testing.T) {
	f := newFixture(t)
	for i := 0; i < actors.DefaultConfig().ActivationPerAddress; i++ {
		c := f.signin(fmt.Sprintf("o_fresh%d", i))
		if r := f.post(c, "/h5/tenants", "/h5/tenants", url.Values{"code": {fmt.Sprintf("GUESS-%04d", i)}}); r.status != 400 {
			t.Fatalf("guess %d = %d", i, r.status)
		}
	}
	c := f.signin("o_fresh_next")
	wantWait(t, f.post(c, "/h5/tenants", "/h5/tenants", url.Values{"code": {f.code}}), domain.ErrActivationRateLimit)
}
