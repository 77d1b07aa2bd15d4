package domain

import (
	"encoding/json"
	"errors"
	"testing"
)

func TestSetDefault(t *testing.T) {
	tests := []struct {
		name  string
		start Defaults
		id    string
		perm  Business // the account's permitted business
		which Business
		count int // accounts in the enterprise
		want  Defaults
		err   error
	}{
		{name: "issue default", id: "A", perm: BusinessBoth, which: BusinessIssue, count: 2, want: Defaults{Issue: "A"}},
		{name: "receive default", id: "A", perm: BusinessBoth, which: BusinessReceive, count: 2, want: Defaults{Receive: "A"}},
		{name: "both on one account", id: "A", perm: BusinessBoth, which: BusinessBoth, count: 2, want: Defaults{Issue: "A", Receive: "A"}},
		{name: "two accounts, one each", start: Defaults{Issue: "A"}, id: "B", perm: BusinessReceive, which: BusinessReceive, count: 2,
			want: Defaults{Issue: "A", Receive: "B"}},
		{name: "issue flag moves from its holder", start: Defaults{Issue: "A", Receive: "B"}, id: "C", perm: BusinessIssue, which: BusinessIssue, count: 3,
			want: Defaults{Issue: "C", Receive: "B"}},
		{name: "receive flag moves from a both holder", start: Defaults{Issue: "A", Receive: "A"}, id: "B", perm: BusinessReceive, which: BusinessReceive, count: 2,
			want: Defaults{Issue: "A", Receive: "B"}},
		{name: "both replaces two holders", start: Defaults{Issue: "A", Receive: "B"}, id: "C", perm: BusinessBoth, which: BusinessBoth, count: 3,
			want: Defaults{Issue: "C", Receive: "C"}},
		{name: "holder of receive adds issue", start: Defaults{Issue: "A", Receive: "B"}, id: "B", perm: BusinessBoth, which: BusinessIssue, count: 2,
			want: Defaults{Issue: "B", Receive: "B"}},
		{name: "setting again changes nothing", start: Defaults{Issue: "A", Receive: "B"}, id: "A", perm: BusinessBoth, which: BusinessIssue, count: 2,
			want: Defaults{Issue: "A", Receive: "B"}},
		{name: "single account as both", id: "A", perm: BusinessBoth, which: BusinessBoth, count: 1, want: Defaults{Issue: "A", Receive: "A"}},

		{name: "receive-only account as issue default", start: Defaults{Issue: "A"}, id: "B", perm: BusinessReceive, which: BusinessIssue, count: 2,
			want: Defaults{Issue: "A"}, err: ErrDefaultNoIssue},
		{name: "receive-only account as both", id: "B", perm: BusinessReceive, which: BusinessBoth, count: 2, err: ErrDefaultNoIssue},
		{name: "issue-only account as receive default", start: Defaults{Receive: "A"}, id: "B", perm: BusinessIssue, which: BusinessReceive, count: 2,
			want: Defaults{Receive: "A"}, err: ErrDefaultNoReceive},
		{name: "issue-only account as both", id: "B", perm: BusinessIssue, which: BusinessBoth, count: 2, err: ErrDefaultNoReceive},
		{name: "account without any permission", id: "B", perm: 0, which: BusinessReceive, count: 2, err: ErrDefaultNoReceive},
		{name: "single account, issue only", id: "A", perm: BusinessBoth, which: BusinessIssue, count: 1, err: ErrDefaultSingleBoth},
		{name: "single account, receive only", id: "A", perm: BusinessBoth, which: BusinessReceive, count: 1, err: ErrDefaultSingleBoth},
		// The manual's two rules together: a single receive-only account
		// may be neither the receive default nor both.
		{name: "single receive-only account, both", id: "A", perm: BusinessReceive, which: BusinessBoth, count: 1, err: ErrDefaultNoIssue},
		{name: "single receive-only account, receive", id: "A", perm: BusinessReceive, which: BusinessReceive, count: 1, err: ErrDefaultSingleBoth},
		{name: "no business", id: "A", perm: BusinessBoth, which: 0, count: 2, err: ErrInvalidBusiness},
		{name: "unknown business bits", id: "A", perm: BusinessBoth, which: 4, count: 2, err: ErrInvalidBusiness},
		{name: "no account", start: Defaults{Issue: "A"}, id: "", perm: BusinessBoth, which: BusinessIssue, count: 2,
			want: Defaults{Issue: "A"}, err: ErrInvalidInput},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.start.SetDefault(tc.id, tc.perm, tc.which, tc.count)
			if !errors.Is(err, tc.err) || (tc.err == nil && err != nil) {
				t.Fatalf("SetDefault = %+v, %v; want error %v", got, err, tc.err)
			}
			if err != nil && got != tc.start {
				t.Errorf("a refused SetDefault changed the defaults to %+v", got)
			}
			if err == nil && got != tc.want {
				t.Errorf("SetDefault = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestDefaultsFlagsAndWithout(t *testing.T) {
	d := Defaults{Issue: "A", Receive: "B"}
	both := Defaults{Issue: "A", Receive: "A"}
	flags := []struct {
		d    Defaults
		id   string
		want Business
	}{
		{d, "A", BusinessIssue},
		{d, "B", BusinessReceive},
		{d, "C", 0},
		{d, "", 0},
		{both, "A", BusinessBoth},
		{Defaults{}, "", 0},
	}
	for _, tc := range flags {
		if got := tc.d.Flags(tc.id); got != tc.want {
			t.Errorf("%+v.Flags(%q) = %v, want %v", tc.d, tc.id, got, tc.want)
		}
	}

	without := []struct {
		d    Defaults
		id   string
		want Defaults
	}{
		{d, "A", Defaults{Receive: "B"}},
		{d, "B", Defaults{Issue: "A"}},
		{d, "C", d},
		{both, "A", Defaults{}},
		{Defaults{}, "A", Defaults{}},
	}
	for _, tc := range without {
		if got := tc.d.Without(tc.id); got != tc.want {
			t.Errorf("%+v.Without(%q) = %+v, want %+v", tc.d, tc.id, got, tc.want)
		}
	}
}

func TestDefaultsResolve(t *testing.T) {
	tests := []struct {
		name string
		d    Defaults
		b    Business
		want string // "" for ErrNoDefaultAccount
	}{
		{"issue", Defaults{Issue: "A", Receive: "B"}, BusinessIssue, "A"},
		{"receive", Defaults{Issue: "A", Receive: "B"}, BusinessReceive, "B"},
		{"both held by one account", Defaults{Issue: "A", Receive: "A"}, BusinessBoth, "A"},
		{"both split over two accounts", Defaults{Issue: "A", Receive: "B"}, BusinessBoth, ""},
		{"both with only issue set", Defaults{Issue: "A"}, BusinessBoth, ""},
		{"none set", Defaults{}, BusinessIssue, ""},
		{"receive unset", Defaults{Issue: "A"}, BusinessReceive, ""},
		{"issue unset", Defaults{Receive: "B"}, BusinessIssue, ""},
		{"no business", Defaults{Issue: "A", Receive: "A"}, 0, ""},
		{"after delete", Defaults{Issue: "A", Receive: "A"}.Without("A"), BusinessIssue, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.d.Of(tc.b); got != tc.want {
				t.Errorf("Of(%v) = %q, want %q", tc.b, got, tc.want)
			}
			got, err := tc.d.Resolve(tc.b)
			if tc.want == "" {
				if !errors.Is(err, ErrNoDefaultAccount) || got != "" {
					t.Fatalf("Resolve(%v) = %q, %v; want ErrNoDefaultAccount", tc.b, got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("Resolve(%v) = %q, %v; want %q", tc.b, got, err, tc.want)
			}
		})
	}
}

func TestDefaultsJSON(t *testing.T) {
	p, err := json.Marshal(Defaults{Issue: "A"})
	if err != nil || string(p) != `{"issue":"A"}` {
		t.Fatalf("json = %s, %v", p, err)
	}
	var d Defaults
	if err := json.Unmarshal([]byte(`{"issue":"A","receive":"A"}`), &d); err != nil || d.Flags("A") != BusinessBoth {
		t.Fatalf("decoded %+v, %v", d, err)
	}
}
