package domain

import "strings"

// Region is one of the 36 tax-bureau regions, each with its own 电子税务局:
// the 31 provincial divisions, keyed by their 2-digit GB/T 2260 code, and the
// five 计划单列市 (大连, 宁波, 厦门, 青岛, 深圳), keyed by their 4-digit code.
// The zero value is no region.
type Region struct {
	Code string `json:"code"`
	Name string `json:"name"`
}

// regions is in code order, so each 计划单列市 follows its province.
var regions = [...]Region{
	{"11", "北京"},
	{"12", "天津"},
	{"13", "河北"},
	{"14", "山西"},
	{"15", "内蒙古"},
	{"21", "辽宁"},
	{"2102", "大连"},
	{"22", "吉林"},
	{"23", "黑龙江"},
	{"31", "上海"},
	{"32", "江苏"},
	{"33", "浙江"},
	{"3302", "宁波"},
	{"34", "安徽"},
	{"35", "福建"},
	{"3502", "厦门"},
	{"36", "江西"},
	{"37", "山东"},
	{"3702", "青岛"},
	{"41", "河南"},
	{"42", "湖北"},
	{"43", "湖南"},
	{"44", "广东"},
	{"4403", "深圳"},
	{"45", "广西"},
	{"46", "海南"},
	{"50", "重庆"},
	{"51", "四川"},
	{"52", "贵州"},
	{"53", "云南"},
	{"54", "西藏"},
	{"61", "陕西"},
	{"62", "甘肃"},
	{"63", "青海"},
	{"64", "宁夏"},
	{"65", "新疆"},
}

// regionSuffixes are the endings of the official names that ParseRegion
// strips ("广西壮族自治区" → "广西"), longest first.
var regionSuffixes = []string{"维吾尔自治区", "壮族自治区", "回族自治区", "自治区", "省", "市"}

// Regions returns the 36 regions in code order (each 计划单列市 right after
// its province). The slice is a fresh copy the caller may change.
func Regions() []Region {
	out := make([]Region, len(regions))
	copy(out, regions[:])
	return out
}

// RegionByCode returns the region with exactly this code ("44", "4403").
func RegionByCode(code string) (Region, bool) {
	for _, r := range regions {
		if r.Code == code {
			return r, true
		}
	}
	return Region{}, false
}

// ParseRegion accepts a region code ("44", "4403"), a 6-digit administrative
// division code ("440305" → 深圳, "440100" → 广东, by the rule of RegionOf),
// or a Chinese name, short ("广东", "深圳") or official ("广东省", "深圳市",
// "广西壮族自治区"). Anything else is ErrInvalidRegion.
func ParseRegion(s string) (Region, error) {
	s = strings.TrimSpace(s)
	if r, ok := RegionByCode(s); ok {
		return r, nil
	}
	if r, ok := regionOfDivision(s); ok {
		return r, nil
	}
	if r, ok := regionByName(s); ok {
		return r, nil
	}
	for _, suf := range regionSuffixes {
		if name, ok := strings.CutSuffix(s, suf); ok {
			if r, ok := regionByName(name); ok {
				return r, nil
			}
		}
	}
	return Region{}, ErrInvalidRegion.With("“"+s+"”不是税务局地区", "unknown region "+s)
}

func regionByName(name string) (Region, bool) {
	for _, r := range regions {
		if r.Name == name {
			return r, true
		}
	}
	return Region{}, false
}

// RegionOf derives the tax-bureau region from a tax number. A 统一社会信用代码
// carries the 6-digit administrative division code of its registration in
// characters 3 to 8; so do legacy 15 and 20-character 税务登记号 in their
// first six, when those are digits. When the first four digits are a
// 计划单列市 the region is that city, otherwise the province of the first two.
// Legacy 17 and 18-character ids say nothing reliable about the tax bureau (an
// ID number's division is the person's birthplace registration), so they
// report false, as does a division outside the 36 regions.
func RegionOf(t TaxNo) (Region, bool) {
	var div string
	switch {
	case !t.Legacy && len(t.Value) == 18:
		div = t.Value[2:8]
	case t.Legacy && (len(t.Value) == 15 || len(t.Value) == 20):
		div = t.Value[:6]
	default:
		return Region{}, false
	}
	return regionOfDivision(div)
}

// regionOfDivision maps a 6-digit division code to its region: the
// 计划单列市 of its first four digits, else the province of its first two.
func regionOfDivision(div string) (Region, bool) {
	if len(div) != 6 {
		return Region{}, false
	}
	for i := 0; i < len(div); i++ {
		if !isDigit(div[i]) {
			return Region{}, false
		}
	}
	if r, ok := RegionByCode(div[:4]); ok {
		return r, true
	}
	return RegionByCode(div[:2])
}
