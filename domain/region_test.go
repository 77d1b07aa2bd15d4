package domain

import (
	"errors"
	"slices"
	"testing"
)

var cityRegions = map[string]string{"2102": "大连", "3302": "宁波", "3502": "厦门", "3702": "青岛", "4403": "深圳"}

func TestRegions(t *testing.T) {
	rs := Regions()
	if len(rs) != 36 {
		t.Fatalf("len(Regions()) = %d, want 36", len(rs))
	}
	codes, names := map[string]bool{}, map[string]bool{}
	provinces := 0
	for i, r := range rs {
		if r.Code == "" || r.Name == "" {
			t.Errorf("region %d is incomplete: %+v", i, r)
		}
		if codes[r.Code] || names[r.Name] {
			t.Errorf("region %+v repeats a code or a name", r)
		}
		codes[r.Code], names[r.Name] = true, true
		for j := 0; j < len(r.Code); j++ {
			if !isDigit(r.Code[j]) {
				t.Errorf("region %+v: code is not numeric", r)
			}
		}
		switch len(r.Code) {
		case 2:
			provinces++
		case 4:
			if cityRegions[r.Code] != r.Name {
				t.Errorf("region %+v is not one of the five 计划单列市", r)
			}
			if _, ok := RegionByCode(r.Code[:2]); !ok {
				t.Errorf("city %+v has no province", r)
			}
		default:
			t.Errorf("region %+v: code must have 2 or 4 digits", r)
		}
		if i > 0 && rs[i-1].Code >= r.Code {
			t.Errorf("regions out of code order at %+v", r)
		}
	}
	if provinces != 31 {
		t.Errorf("%d provincial regions, want 31", provinces)
	}
	for code := range cityRegions {
		if !codes[code] {
			t.Errorf("city %s missing", code)
		}
	}

	// The slice is a copy and the order is stable.
	rs[0] = Region{Code: "00", Name: "改"}
	if again := Regions(); again[0].Code != "11" || !slices.Equal(again[1:], rs[1:]) {
		t.Errorf("Regions() changed after its result was modified: %v", again[:2])
	}
}

func TestRegionSpotChecks(t *testing.T) {
	want := map[string]string{
		"11": "北京", "12": "天津", "13": "河北", "14": "山西", "15": "内蒙古", "21": "辽宁", "22": "吉林",
		"23": "黑龙江", "31": "上海", "32": "江苏", "33": "浙江", "34": "安徽", "35": "福建", "36": "江西",
		"37": "山东", "41": "河南", "42": "湖北", "43": "湖南", "44": "广东", "45": "广西", "46": "海南",
		"50": "重庆", "51": "四川", "52": "贵州", "53": "云南", "54": "西藏", "61": "陕西", "62": "甘肃",
		"63": "青海", "64": "宁夏", "65": "新疆",
	}
	for k, v := range cityRegions {
		want[k] = v
	}
	if len(want) != 36 {
		t.Fatalf("the test's own table has %d entries", len(want))
	}
	for code, name := range want {
		r, ok := RegionByCode(code)
		if !ok || r.Name != name {
			t.Errorf("RegionByCode(%q) = %+v, %v; want %s", code, r, ok, name)
		}
	}
	for _, code := range []string{"", "1", "10", "71", "81", "4401", "440300", " 44"} {
		if r, ok := RegionByCode(code); ok {
			t.Errorf("RegionByCode(%q) = %+v, want none", code, r)
		}
	}
}

func TestParseRegion(t *testing.T) {
	tests := []struct {
		in       string
		wantCode string // "" for ErrInvalidRegion
	}{
		{"44", "44"},
		{"4403", "4403"},
		{" 35 ", "35"},
		{"广东", "44"},
		{"广东省", "44"},
		{"深圳", "4403"},
		{"深圳市", "4403"},
		{"北京市", "11"},
		{"重庆市", "50"},
		{"黑龙江省", "23"},
		{"内蒙古自治区", "15"},
		{"广西壮族自治区", "45"},
		{"西藏自治区", "54"},
		{"宁夏回族自治区", "64"},
		{"新疆维吾尔自治区", "65"},
		{"大连市", "2102"},
		{"宁波", "3302"},
		{"厦门", "3502"},
		{"青岛市", "3702"},
		{"440305", "4403"}, // a district of Shenzhen
		{"440100", "44"},   // Guangzhou belongs to the Guangdong bureau
		{"210200", "2102"},
		{"", ""},
		{"台湾", ""},
		{"71", ""},
		{"4401", ""},
		{"广州", ""},
		{"广东省省", ""},
		{"710000", ""},
		{"44030A", ""},
		{"Guangdong", ""},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseRegion(tc.in)
			if tc.wantCode == "" {
				if !errors.Is(err, ErrInvalidRegion) {
					t.Fatalf("ParseRegion(%q) = %+v, %v; want ErrInvalidRegion", tc.in, got, err)
				}
				return
			}
			if err != nil || got.Code != tc.wantCode {
				t.Fatalf("ParseRegion(%q) = %+v, %v; want code %s", tc.in, got, err, tc.wantCode)
			}
		})
	}
	// Every region parses from its own code and name.
	for _, r := range Regions() {
		for _, s := range []string{r.Code, r.Name} {
			if got, err := ParseRegion(s); err != nil || got != r {
				t.Errorf("ParseRegion(%q) = %+v, %v; want %+v", s, got, err, r)
			}
		}
	}
}

func TestRegionOf(t *testing.T) {
	// Every region, from a USCC made for it.
	for _, r := range Regions() {
		tn, err := ParseTaxNo(MakeTaxNo(r.Code, 123))
		if err != nil {
			t.Fatal(err)
		}
		if got, ok := RegionOf(tn); !ok || got != r {
			t.Errorf("RegionOf(%s) = %+v, %v; want %+v", tn, got, ok, r)
		}
	}
	mustParse := func(s string) TaxNo {
		t.Helper()
		tn, err := ParseTaxNo(s)
		if err != nil {
			t.Fatalf("ParseTaxNo(%q): %v", s, err)
		}
		return tn
	}
	tests := []struct {
		name     string
		tn       TaxNo
		wantCode string // "" for false
	}{
		{"public example, Fuzhou", mustParse("91350100M000100Y43"), "35"},
		{"Tencent, Shenzhen", mustParse("91440300708461136T"), "4403"},
		{"Guangzhou district is Guangdong", mustParse(MakeTaxNo("440106", 1)), "44"},
		{"Shenzhen district", mustParse(MakeTaxNo("440305", 1)), "4403"},
		{"Xiamen district", mustParse(MakeTaxNo("350203", 1)), "3502"},
		{"Fuzhou is Fujian", mustParse(MakeTaxNo("350100", 1)), "35"},
		{"Qingdao", mustParse(MakeTaxNo("370202", 1)), "3702"},
		{"Ningbo", mustParse(MakeTaxNo("330203", 1)), "3302"},
		{"Dalian", mustParse(MakeTaxNo("210202", 1)), "2102"},
		{"division outside the regions", mustParse(MakeTaxNo("710000", 1)), ""},
		{"letters in the division", mustParse(withCheck(t, "91AB0100M000100Y4")), ""},
		{"legacy 15", mustParse("440301123456789"), "4403"},
		{"legacy 15 Liaoning", mustParse("210101123456789"), "21"},
		{"legacy 20", mustParse("21020219800101123401"), "2102"},
		{"legacy 15 with letters in front", mustParse("A40301123456789"), ""},
		{"legacy 17", mustParse("44030112345678901"), ""},
		{"legacy 18 ID card", mustParse("11010519491231002X"), ""},
		{"zero value", TaxNo{}, ""},
		{"18 marked legacy", TaxNo{Value: "91350100M000100Y43", Legacy: true}, ""},
		{"15 not marked legacy", TaxNo{Value: "440301123456789"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := RegionOf(tc.tn)
			if tc.wantCode == "" {
				if ok {
					t.Fatalf("RegionOf(%+v) = %+v, want false", tc.tn, got)
				}
				return
			}
			if !ok || got.Code != tc.wantCode {
				t.Fatalf("RegionOf(%+v) = %+v, %v; want %s", tc.tn, got, ok, tc.wantCode)
			}
		})
	}
}
