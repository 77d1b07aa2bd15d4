package domain

import (
	"errors"
	"strings"
	"testing"
)

// withCheck appends the GB 32100 check digit to a 17-character body.
func withCheck(t testing.TB, first17 string) string {
	t.Helper()
	c, err := CheckDigit(first17)
	if err != nil {
		t.Fatalf("CheckDigit(%q): %v", first17, err)
	}
	return first17 + string(c)
}

// flipCheck returns v with a different (still USCC-alphabet) last character.
func flipCheck(v string) string {
	last := v[len(v)-1]
	i := strings.IndexByte(usccCharset, last)
	return v[:len(v)-1] + string(usccCharset[(i+1)%len(usccCharset)])
}

func TestCheckDigit(t *testing.T) {
	tests := []struct {
		name    string
		first17 string
		want    byte
		wantErr bool
	}{
		// Public numbers, checked against their printed check digit.
		{name: "public example", first17: "91350100M000100Y4", want: '3'},
		{name: "Alibaba China", first17: "91330100799655058", want: 'B'},
		{name: "Tencent Shenzhen", first17: "91440300708461136", want: 'T'},
		{name: "lower case body", first17: "91350100m000100y4", want: '3'},
		// Σ = 0 → 31 − 0 = 31 → 0.
		{name: "all zeros", first17: "00000000000000000", want: '0'},
		{name: "too short", first17: "9135010", wantErr: true},
		{name: "too long", first17: "91350100M000100Y43", wantErr: true},
		{name: "forbidden I", first17: "91350100I000100Y4", wantErr: true},
		{name: "forbidden O", first17: "91350100O000100Y4", wantErr: true},
		{name: "forbidden Z", first17: "91350100Z000100Y4", wantErr: true},
		{name: "forbidden S", first17: "91350100S000100Y4", wantErr: true},
		{name: "forbidden V", first17: "91350100V000100Y4", wantErr: true},
		{name: "punctuation", first17: "91350100-000100Y4", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := CheckDigit(tc.first17)
			if tc.wantErr {
				if !errors.Is(err, ErrInvalidTaxNo) {
					t.Fatalf("CheckDigit(%q) = %q, %v; want ErrInvalidTaxNo", tc.first17, got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("CheckDigit(%q) = %q, %v; want %q", tc.first17, got, err, tc.want)
			}
		})
	}
}

// TestCheckDigitDefinition recomputes the check digit from the standard's
// definition (weights 3^i mod 31) for many bodies.
func TestCheckDigitDefinition(t *testing.T) {
	w := 1
	for i := range 17 {
		if usccWeights[i] != w {
			t.Fatalf("weight %d = %d, want 3^%d mod 31 = %d", i, usccWeights[i], i, w)
		}
		w = w * 3 % 31
	}
	for seq := range 200 {
		body := "9144030" + strings.Repeat(string(usccCharset[seq%31]), 5) + strings.Repeat(string(usccCharset[(seq*7)%31]), 5)
		got, err := CheckDigit(body)
		if err != nil {
			t.Fatal(err)
		}
		sum := 0
		for i := range 17 {
			sum += strings.IndexByte(usccCharset, body[i]) * usccWeights[i]
		}
		if (sum+strings.IndexByte(usccCharset, got))%31 != 0 {
			t.Fatalf("CheckDigit(%q) = %q: Σ + check is not a multiple of 31", body, got)
		}
	}
}

func TestParseTaxNo(t *testing.T) {
	valid := withCheck(t, "9144030071526726X")
	tests := []struct {
		name       string
		in         string
		want       TaxNo
		wantErr    bool
		wantReason string // part of the Chinese message, when an error
	}{
		{name: "public example", in: "91350100M000100Y43", want: TaxNo{Value: "91350100M000100Y43"}},
		{name: "Alibaba China", in: "91330100799655058B", want: TaxNo{Value: "91330100799655058B"}},
		{name: "computed", in: valid, want: TaxNo{Value: valid}},
		{name: "made for a region", in: MakeTaxNo("4403", 42), want: TaxNo{Value: MakeTaxNo("4403", 42)}},
		{name: "lower case normalised", in: "91350100m000100y43", want: TaxNo{Value: "91350100M000100Y43"}},
		{name: "surrounding spaces trimmed", in: "  91350100M000100Y43\t\n", want: TaxNo{Value: "91350100M000100Y43"}},
		{name: "ideographic space trimmed", in: "\u300091350100M000100Y43\u3000", want: TaxNo{Value: "91350100M000100Y43"}},
		{name: "wrong check digit", in: "91350100M000100Y44", wantErr: true, wantReason: "校验位"},
		{name: "wrong check digit computed", in: flipCheck(valid), wantErr: true, wantReason: "校验位"},
		{name: "forbidden I", in: "91350100I000100Y43", wantErr: true, wantReason: "I、O、Z、S、V"},
		{name: "forbidden O", in: "91350100O000100Y43", wantErr: true, wantReason: "“O”"},
		{name: "forbidden Z", in: "91350100Z000100Y43", wantErr: true, wantReason: "“Z”"},
		{name: "forbidden S", in: "91350100S000100Y43", wantErr: true, wantReason: "“S”"},
		{name: "forbidden V", in: "91350100V000100Y43", wantErr: true, wantReason: "“V”"},
		{name: "forbidden letter as check", in: "91350100M000100Y4I", wantErr: true, wantReason: "第18位"},
		{name: "lower-case forbidden letter", in: "91350100m000100y4o", wantErr: true},
		{name: "legacy 15 digits", in: "440301123456789", want: TaxNo{Value: "440301123456789", Legacy: true}},
		{name: "legacy 15 with letters", in: "44030171234567x", want: TaxNo{Value: "44030171234567X", Legacy: true}},
		{name: "legacy 17", in: "44030112345678901", want: TaxNo{Value: "44030112345678901", Legacy: true}},
		{name: "legacy 20", in: "44030119800101123401", want: TaxNo{Value: "44030119800101123401", Legacy: true}},
		{name: "legacy 20 with letters", in: "3302037123456789ab01", want: TaxNo{Value: "3302037123456789AB01", Legacy: true}},
		{name: "legacy may use O", in: "44030100000000O", want: TaxNo{Value: "44030100000000O", Legacy: true}},
		{name: "legacy with dash", in: "440301-23456789", wantErr: true, wantReason: "第7位"},
		{name: "ID card legacy", in: "11010519491231002X", want: TaxNo{Value: "11010519491231002X", Legacy: true}},
		{name: "ID card lower x", in: "11010519491231002x", want: TaxNo{Value: "11010519491231002X", Legacy: true}},
		{name: "ID card all digits", in: "440524188001010014", want: TaxNo{Value: "440524188001010014", Legacy: true}},
		{name: "ID card wrong check", in: "110105194912310021", wantErr: true, wantReason: "校验位"},
		{name: "ID card X inside", in: "1101051949123X0021", wantErr: true},
		{name: "empty", in: "", wantErr: true, wantReason: "为空"},
		{name: "only spaces", in: "   ", wantErr: true, wantReason: "为空"},
		{name: "garbage", in: "hello", wantErr: true, wantReason: "长度"},
		{name: "chinese", in: "广东省深圳市税务局", wantErr: true, wantReason: "数字和英文字母"},
		{name: "full-width digit", in: "91350100M000100Y4３", wantErr: true},
		{name: "long s folds to S only after upper-casing", in: "91350100M000100Yſ3", wantErr: true},
		{name: "inner space", in: "91350100 M000100Y43", wantErr: true},
		{name: "16 chars", in: "4403011234567890", wantErr: true, wantReason: "当前为16位"},
		{name: "19 chars", in: "91350100M000100Y431", wantErr: true},
		{name: "21 chars", in: "440301198001011234012", wantErr: true},
		{name: "nul byte", in: "91350100M000100Y4\x00", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseTaxNo(tc.in)
			if tc.wantErr {
				if !errors.Is(err, ErrInvalidTaxNo) {
					t.Fatalf("ParseTaxNo(%q) = %+v, %v; want ErrInvalidTaxNo", tc.in, got, err)
				}
				if got != (TaxNo{}) {
					t.Errorf("ParseTaxNo(%q) returned %+v with its error", tc.in, got)
				}
				e := AsError(err)
				if !strings.Contains(e.Message, tc.wantReason) {
					t.Errorf("message %q does not say %q", e.Message, tc.wantReason)
				}
				if e.Message == ErrInvalidTaxNo.Message || e.MessageEN == ErrInvalidTaxNo.MessageEN {
					t.Errorf("error %q carries no reason in both languages", e.Message)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseTaxNo(%q): %v", tc.in, err)
			}
			if got != tc.want {
				t.Fatalf("ParseTaxNo(%q) = %+v, want %+v", tc.in, got, tc.want)
			}
			if got.String() != tc.want.Value {
				t.Errorf("String() = %q, want %q", got.String(), tc.want.Value)
			}
		})
	}
}

func TestMakeTaxNo(t *testing.T) {
	tests := []struct {
		region  string
		seq     int
		wantDiv string
	}{
		{"44", 1, "440000"},
		{"4403", 1, "440300"},
		{"11", 0, "110000"},
		{"2102", 99_999_999, "210200"},
		{"440305", 7, "440305"},
		{"4403051234", 7, "440305"},
		{"GD", 7, "000000"},
		{"", 7, "000000"},
		{"44", -12, "440000"},
		{"44", 1 << 40, "440000"},
	}
	for _, tc := range tests {
		got := MakeTaxNo(tc.region, tc.seq)
		tn, err := ParseTaxNo(got)
		if err != nil || tn.Legacy || tn.Value != got {
			t.Fatalf("MakeTaxNo(%q, %d) = %q parses as %+v, %v", tc.region, tc.seq, got, tn, err)
		}
		if got[:2] != "91" || got[2:8] != tc.wantDiv {
			t.Errorf("MakeTaxNo(%q, %d) = %q, want prefix 91%s", tc.region, tc.seq, got, tc.wantDiv)
		}
		if org := got[8:17]; orgCheck([]byte(org[:8])) != org[8] {
			t.Errorf("MakeTaxNo(%q, %d) = %q: organisation code %s has a wrong check", tc.region, tc.seq, got, org)
		}
	}
	seen := map[string]int{}
	for seq := range 5000 {
		v := MakeTaxNo("4403", seq)
		if prev, ok := seen[v]; ok {
			t.Fatalf("MakeTaxNo(4403, %d) = MakeTaxNo(4403, %d) = %s", seq, prev, v)
		}
		seen[v] = seq
	}
}

func TestOrgCheck(t *testing.T) {
	// 79965505-8 is the organisation code inside Alibaba China's USCC
	// 91330100799655058B; the others cover the X and 0 cases of GB 11714.
	tests := []struct {
		body string
		want byte
	}{
		{"79965505", '8'},
		{"70846113", '6'},
		{"00000000", '0'}, // Σ = 0 → 11 → 0
		{"00000006", 'X'}, // Σ = 12 ≡ 1 → 10 → X
	}
	for _, tc := range tests {
		if got := orgCheck([]byte(tc.body)); got != tc.want {
			t.Errorf("orgCheck(%s) = %q, want %q", tc.body, got, tc.want)
		}
	}
	// Definition: Σ wᵢcᵢ + check ≡ 0 (mod 11), X standing for 10.
	for n := 0; n < 100_000; n += 37 {
		body := []byte(strings.Repeat("0", 3) + string(rune('0'+n/10000%10)) + string(rune('0'+n/1000%10)) +
			string(rune('0'+n/100%10)) + string(rune('0'+n/10%10)) + string(rune('0'+n%10)))
		c := orgCheck(body)
		v := int(c - '0')
		if c == 'X' {
			v = 10
		}
		sum := v
		for i, d := range body {
			sum += int(d-'0') * orgWeights[i]
		}
		if sum%11 != 0 {
			t.Fatalf("orgCheck(%s) = %q: Σ + check = %d is not a multiple of 11", body, c, sum)
		}
	}
}

func TestValidResidentID(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"11010519491231002X", true},
		{"440524188001010014", true},
		{"110105194912310021", false},
		{"11010519491231002", false},
		{"1101051949123100X2", false},
		{"A1010519491231002X", false},
	}
	for _, tc := range tests {
		if got := validResidentID(tc.in); got != tc.want {
			t.Errorf("validResidentID(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func FuzzParseTaxNo(f *testing.F) {
	for _, s := range []string{
		"91350100M000100Y43", "91350100m000100y43", " 91330100799655058B ", "11010519491231002X",
		"440301123456789", "44030112345678901", "44030119800101123401", "", "hello", "91350100I000100Y43",
		"广东", "91350100M000100Yſ3", "\u300044030112345678\u3000", MakeTaxNo("4403", 1),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tn, err := ParseTaxNo(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidTaxNo) {
				t.Fatalf("ParseTaxNo(%q) failed with %v, not ErrInvalidTaxNo", s, err)
			}
			return
		}
		again, err := ParseTaxNo(tn.Value)
		if err != nil || again != tn {
			t.Fatalf("ParseTaxNo(%q) = %+v, but its value re-parses as %+v, %v", s, tn, again, err)
		}
		if tn.Value != strings.ToUpper(tn.Value) || tn.Value != strings.TrimSpace(tn.Value) {
			t.Fatalf("ParseTaxNo(%q) = %q is not normalised", s, tn.Value)
		}
		switch len(tn.Value) {
		case 18:
			if tn.Legacy && !validResidentID(tn.Value) {
				t.Fatalf("ParseTaxNo(%q): legacy 18 that is no ID number", s)
			}
		case 15, 17, 20:
			if !tn.Legacy {
				t.Fatalf("ParseTaxNo(%q): %d characters but not legacy", s, len(tn.Value))
			}
		default:
			t.Fatalf("ParseTaxNo(%q) accepted %d characters", s, len(tn.Value))
		}
		RegionOf(tn) // must not panic
	})
}
