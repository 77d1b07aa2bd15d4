package taxbureau_test

import (
	"context"
	"testing"
	"time"

	"github.com/etaxd/etaxd/domain"
	"github.com/etaxd/etaxd/internal/clock"
	"github.com/etaxd/etaxd/taxbureau"
)

func TestInstrumentCounts(t *testing.T) {
	sim := taxbureau.NewSimulator(taxbureau.DefaultSimConfig(), clock.NewFake(time.Date(2026, 11, 27, 9, 0, 0, 0, domain.ChinaTime)))
	tax := domain.MakeTaxNo("44", 3)
	if err := sim.AddPerson(taxbureau.Person{Username: "u", Phone: "13800000001", IDNumber: "110101199001011237", Password: "Pw@2026abc",
		Relations: []taxbureau.Relation{{TaxNo: tax, Region: "44", Role: domain.RoleInvoicer}}}); err != nil {
		t.Fatal(err)
	}
	g := taxbureau.Instrument(sim)
	var gw taxbureau.Gateway = g
	ctx := context.Background()
	for _, pw := range []string{"Pw@2026abc", "wrong", "Pw@2026abc"} {
		_, _ = gw.Login(ctx, taxbureau.LoginRequest{Region: "44", TaxNo: tax, Username: "u", Password: pw, Channel: domain.ChannelIssue})
	}
	st := g.Stats()
	if len(st) != 2 || st[0].Op != "Login" || st[0].Outcome != "ok" || st[0].Count != 2 || st[1].Outcome != "wrong_password" || st[1].Count != 1 {
		t.Fatalf("stats = %+v", st)
	}
	if st[0].Buckets[30] != 2 {
		t.Fatalf("histogram = %v", st[0].Buckets)
	}
}
