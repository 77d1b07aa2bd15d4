package domain

import (
	"strconv"
	"strings"
)

// TaxNo is an enterprise's tax number. Value is the normalised form (no
// surrounding spaces, upper case). Legacy is true for the taxpayer ids that
// predate the 统一社会信用代码 and carry no check digit of their own: the 15,
// 17 and 20-character 税务登记号 and an individual's 18-digit resident ID
// number. The zero value is no tax number; build one with ParseTaxNo.
type TaxNo struct {
	Value  string
	Legacy bool
}

// String returns the normalised tax number.
func (t TaxNo) String() string { return t.Value }

// usccCharset is the alphabet of the 统一社会信用代码 (GB 32100-2015): digits
// and the upper-case letters without I, O, Z, S and V. A character's index is
// its value in the check-digit sum.
const usccCharset = "0123456789ABCDEFGHJKLMNPQRTUWXY"

// usccWeights are the GB 32100-2015 weights of the first 17 characters
// (3^i mod 31).
var usccWeights = [17]int{1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28}

// idWeights are the GB 11643-1999 weights of a resident ID number's first 17
// digits (2^(17-i) mod 11), and idChecks maps the sum mod 11 to its check
// character.
var idWeights = [17]int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}

const idChecks = "10X98765432"

// usccValue returns the value of c in the USCC alphabet, or -1.
func usccValue(c byte) int { return strings.IndexByte(usccCharset, c) }

// CheckDigit returns the GB 32100-2015 check character of the first 17
// characters of a 统一社会信用代码. first17 may be in lower case; any character
// outside the USCC alphabet (including I, O, Z, S and V) or a length other
// than 17 gives ErrInvalidTaxNo.
func CheckDigit(first17 string) (byte, error) {
	if len(first17) != 17 {
		return 0, ErrInvalidTaxNo.With("校验位计算需要17位本体代码", "the check digit needs 17 characters")
	}
	sum := 0
	for i := 0; i < 17; i++ {
		v := usccValue(upper(first17[i]))
		if v < 0 {
			return 0, badChar(first17[i], i, true)
		}
		sum += v * usccWeights[i]
	}
	c := 31 - sum%31
	if c == 31 {
		c = 0
	}
	return usccCharset[c], nil
}

// ParseTaxNo validates and normalises a tax number. Surrounding
// spaces are trimmed and letters upper-cased. An 18-character value must be a
// 统一社会信用代码 whose GB 32100-2015 check digit holds (Legacy false); one
// that fails the check is still accepted, as legacy, when it is a valid
// 18-digit resident ID number (GB 11643 check digit, the last may be X),
// which individual taxpayers use. Values of 15, 17 or 20 digits and upper-case
// letters are legacy 税务登记号 (Legacy true). Everything else is
// ErrInvalidTaxNo, with the reason in its messages.
func ParseTaxNo(s string) (TaxNo, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return TaxNo{}, ErrInvalidTaxNo.With("税号为空", "empty")
	}
	for i := 0; i < len(t); i++ {
		if t[i] >= 0x80 {
			// Checked before upper-casing: strings.ToUpper would turn
			// some non-ASCII letters (ſ, ı) into ASCII ones.
			return TaxNo{}, ErrInvalidTaxNo.With("只能包含数字和英文字母", "only digits and Latin letters are allowed")
		}
	}
	v := NormalizeTaxNo(t)
	switch len(v) {
	case 18:
		err := checkUSCC(v)
		if err == nil {
			return TaxNo{Value: v}, nil
		}
		if ValidIDCard(v) {
			return TaxNo{Value: v, Legacy: true}, nil
		}
		return TaxNo{}, err
	case 15, 17, 20:
		for i := 0; i < len(v); i++ {
			if !isDigit(v[i]) && !(v[i] >= 'A' && v[i] <= 'Z') {
				return TaxNo{}, badChar(v[i], i, false)
			}
		}
		return TaxNo{Value: v, Legacy: true}, nil
	}
	n := strconv.Itoa(len(v))
	return TaxNo{}, ErrInvalidTaxNo.With(
		"长度应为18位（旧税号为15、17或20位），当前为"+n+"位",
		"must have 18 characters (15, 17 or 20 for a legacy id), got "+n)
}

// checkUSCC reports why the 18 upper-case characters v are not a valid
// 统一社会信用代码, or nil.
func checkUSCC(v string) error {
	want, err := CheckDigit(v[:17])
	if err != nil {
		return err
	}
	if usccValue(v[17]) < 0 {
		return badChar(v[17], 17, true)
	}
	if v[17] != want {
		return ErrInvalidTaxNo.With("校验位不正确", "wrong check digit")
	}
	return nil
}

// IDCheckDigit returns the GB 11643-1999 check character of the first 17
// digits of a resident ID number (0-9 or X); ok is false when first17 is not
// 17 ASCII digits.
func IDCheckDigit(first17 string) (c byte, ok bool) {
	if len(first17) != 17 {
		return 0, false
	}
	sum := 0
	for i := 0; i < 17; i++ {
		if !isDigit(first17[i]) {
			return 0, false
		}
		sum += int(first17[i]-'0') * idWeights[i]
	}
	return idChecks[sum%11], true
}

// validResidentID is ValidIDCard (the name the tests know).
func validResidentID(v string) bool { return ValidIDCard(v) }

// ValidIDCard reports whether v is an 18-character resident ID number whose
// GB 11643-1999 check character holds (upper-case X).
func ValidIDCard(v string) bool {
	if len(v) != 18 {
		return false
	}
	c, ok := IDCheckDigit(v[:17])
	return ok && v[17] == c
}

// MakeTaxNo builds a valid 统一社会信用代码 for demo data and tests: '9'
// (registered by the market regulator), '1' (an enterprise), the 6-digit
// division code of regionCode padded with zeros ("44" → "440000", "4403" →
// "440300"), a 9-character organisation code whose 8-digit body is seq modulo
// 10^8 and whose last character is its GB 11714 check character, and the GB
// 32100 check digit. Non-digits in regionCode are dropped and only its first
// six digits count, so the result always parses; distinct seq values in
// [0, 10^8) give distinct numbers for one region.
func MakeTaxNo(regionCode string, seq int) string {
	var div []byte
	for i := 0; i < len(regionCode) && len(div) < 6; i++ {
		if isDigit(regionCode[i]) {
			div = append(div, regionCode[i])
		}
	}
	for len(div) < 6 {
		div = append(div, '0')
	}
	n := seq % 100_000_000
	if n < 0 {
		n = -n
	}
	body := []byte(strconv.Itoa(n))
	for len(body) < 8 {
		body = append([]byte{'0'}, body...)
	}
	s := "91" + string(div) + string(body) + string(orgCheck(body))
	c, err := CheckDigit(s)
	if err != nil {
		// Unreachable: every character above is a digit or X.
		panic("domain: MakeTaxNo built an invalid body " + s)
	}
	return s + string(c)
}

// orgWeights are the GB 11714-1997 weights of an organisation code's body.
var orgWeights = [8]int{3, 7, 9, 10, 5, 8, 4, 2}

// orgCheck returns the GB 11714 check character of an 8-digit organisation
// code body.
func orgCheck(body []byte) byte {
	sum := 0
	for i, c := range body {
		sum += int(c-'0') * orgWeights[i]
	}
	switch c := 11 - sum%11; c {
	case 10:
		return 'X'
	case 11:
		return '0'
	default:
		return byte('0' + c)
	}
}

// badChar is ErrInvalidTaxNo naming the character at index i (0-based);
// uscc says whether the USCC alphabet (no I, O, Z, S, V) was expected.
func badChar(c byte, i int, uscc bool) *Error {
	pos := strconv.Itoa(i + 1)
	if c <= ' ' || c >= 0x7f {
		return ErrInvalidTaxNo.With("第"+pos+"位含有非法字符", "invalid character at position "+pos)
	}
	ch := string(rune(c))
	zh := "第" + pos + "位含有非法字符“" + ch + "”"
	en := "invalid character " + strconv.Quote(ch) + " at position " + pos
	if uscc {
		zh += "（统一社会信用代码不使用I、O、Z、S、V）"
		en += " (a unified social credit code does not use I, O, Z, S or V)"
	}
	return ErrInvalidTaxNo.With(zh, en)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func upper(c byte) byte {
	if c >= 'a' && c <= 'z' {
		return c - 'a' + 'A'
	}
	return c
}
