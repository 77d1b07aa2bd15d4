package importer

import (
	"fmt"
	"strings"

	"github.com/etaxd/etaxd/domain"
)

// Row is a record that passed Validate, its values parsed.
type Row struct {
	Row            int
	TaxNo          string
	EnterpriseName string
	Region         string // region code, given or derived from the tax number
	Username       string
	Password       domain.Secret
	Business       domain.Business
	Role           domain.Role // empty for a hosted row that names none: the bureau's record decides
	LoginType      domain.LoginType
	BoundOpenID    string
}

// Problem is a record that failed Validate or Plan: its position, the
// tax number and username as written (for the report), and the catalogue
// error.
type Problem struct {
	Row      int
	TaxNo    string
	Username string
	Err      *domain.Error
}

// Validate checks every record; it returns the good rows and a Problem for
// each bad one (its first fault), both in file order.
func Validate(recs []Record) ([]Row, []Problem) {
	var rows []Row
	var bad []Problem
	type firstOf struct {
		row          int
		name, region string
	}
	accounts := map[string]int{}      // tax number + username → first row
	companies := map[string]firstOf{} // tax number → its first row's name and region
	for _, rec := range recs {
		r, err := validateRecord(rec)
		if err == nil {
			key := r.TaxNo + "\x00" + r.Username
			if first, dup := accounts[key]; dup {
				err = domain.ErrInvalidInput.With(fmt.Sprintf("与第%d行的税号和电子税局账号重复", first), fmt.Sprintf("duplicate of row %d", first))
			} else if c, seen := companies[r.TaxNo]; seen && c.name != r.EnterpriseName {
				err = domain.ErrInvalidInput.With(fmt.Sprintf("同一税号在第%d行的企业名称不同", c.row), fmt.Sprintf("enterprise_name differs from row %d", c.row))
			} else if seen && c.region != r.Region {
				err = domain.ErrInvalidRegion.With(fmt.Sprintf("同一税号在第%d行的地区不同", c.row), fmt.Sprintf("region differs from row %d", c.row))
			} else {
				accounts[key] = r.Row
				if !seen {
					companies[r.TaxNo] = firstOf{row: r.Row, name: r.EnterpriseName, region: r.Region}
				}
			}
		}
		if err != nil {
			bad = append(bad, Problem{Row: rec.Row, TaxNo: rec.Get(ColTaxNo), Username: rec.Get(ColUsername), Err: domain.AsError(err)})
			continue
		}
		rows = append(rows, r)
	}
	return rows, bad
}

// validateRecord checks one record with the rules of F3's form and of the
// enterprise form; the engine checks the same again when it writes.
func validateRecord(rec Record) (Row, error) {
	r := Row{Row: rec.Row}
	tn, err := domain.ParseTaxNo(rec.Get(ColTaxNo))
	if err != nil {
		return r, err
	}
	r.TaxNo = tn.Value
	region, derived := domain.RegionOf(tn)
	if s := rec.Get(ColRegion); s != "" {
		given, err := domain.ParseRegion(s)
		if err != nil {
			return r, err
		}
		if derived && given.Code != region.Code {
			return r, domain.ErrInvalidRegion.With("地区与税号不一致（税号属于"+region.Name+"）", "region differs from the tax number's")
		}
		region, derived = given, true
	}
	if !derived {
		return r, domain.ErrInvalidRegion.With("请填写企业所在地区（region列）", "region required")
	}
	r.Region = region.Code
	r.EnterpriseName = rec.Get(ColEnterpriseName)
	if !domain.EnterpriseNameFits(r.EnterpriseName) {
		return r, domain.Invalid(ColEnterpriseName, "企业名称不能为空且不超过100字")
	}
	r.Username = rec.Get(ColUsername)
	if !domain.UsernameFits(r.Username) {
		return r, domain.Invalid(ColUsername, "请输入电子税局账号（不超过64个字符）")
	}
	// The password cell is taken as written, spaces included: it is the
	// person's, and trimming could change it. Its length only is checked.
	pw := rec.raw(ColPassword)
	if strings.TrimSpace(pw) == "" || len(pw) > domain.MaxPasswordLen {
		return r, domain.Invalid(ColPassword, "请输入密码（不超过64个字符）")
	}
	r.Password = domain.NewSecret(pw)
	if r.Business, err = domain.ParseBusiness(rec.Get(ColBusiness)); err != nil {
		return r, err
	}
	if r.LoginType, err = domain.ParseLoginType(rec.Get(ColLoginType)); err != nil {
		return r, err
	}
	if s := rec.Get(ColRole); s != "" {
		if r.Role, err = domain.ParseRole(s); err != nil {
			return r, err
		}
		if err := domain.CheckRoleBusiness(r.Role, r.Business); err != nil {
			return r, err
		}
	} else if !r.LoginType.Hosted() {
		// A manual account is not verified with the bureau when it is
		// imported: nothing else tells its role before the first login.
		return r, domain.ErrInvalidRole.With("人工登录的账号须填写身份（role列）", "role required for a manual account")
	}
	r.BoundOpenID = rec.Get(ColBoundOpenID)
	if len(r.BoundOpenID) > 128 || strings.ContainsAny(r.BoundOpenID, " \t") {
		return r, domain.Invalid(ColBoundOpenID, "绑定的微信openid无效")
	}
	return r, nil
}
