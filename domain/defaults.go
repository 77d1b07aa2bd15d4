package domain

// Defaults are an enterprise's default accounts (F5): at most one for issue
// and one for receive, possibly the same account. Empty means none.
type Defaults struct {
	Issue   string `json:"issue,omitempty"`
	Receive string `json:"receive,omitempty"`
}

// Of returns the default account for b, "" when none. For issue+receive it
// is the account that holds both flags, since one request is served by one
// account.
func (d Defaults) Of(b Business) string {
	switch b {
	case BusinessIssue:
		return d.Issue
	case BusinessReceive:
		return d.Receive
	case BusinessBoth:
		if d.Issue == d.Receive {
			return d.Issue
		}
	}
	return ""
}

// Flags is the business for which id is the default.
func (d Defaults) Flags(id string) Business {
	var b Business
	if id != "" && d.Issue == id {
		b |= BusinessIssue
	}
	if id != "" && d.Receive == id {
		b |= BusinessReceive
	}
	return b
}

// Without returns d with id removed from every slot (F10: deleting an
// account clears its defaults).
func (d Defaults) Without(id string) Defaults {
	if d.Issue == id {
		d.Issue = ""
	}
	if d.Receive == id {
		d.Receive = ""
	}
	return d
}

// SetDefault makes the account id (whose permitted business is perm) the
// default for which, one of issue, receive or both, among count accounts of
// the enterprise. The flag moves from its previous holder. An account
// without the permission cannot hold the slot; with a single account in the
// enterprise only "issue+receive" may be chosen.
func (d Defaults) SetDefault(id string, perm Business, which Business, count int) (Defaults, error) {
	if id == "" {
		return d, Invalid("account_id", "未指定账号")
	}
	if which != BusinessIssue && which != BusinessReceive && which != BusinessBoth {
		return d, ErrInvalidBusiness
	}
	if which.Has(BusinessIssue) && !perm.Has(BusinessIssue) {
		return d, ErrDefaultNoIssue
	}
	if which.Has(BusinessReceive) && !perm.Has(BusinessReceive) {
		return d, ErrDefaultNoReceive
	}
	if count == 1 && which != BusinessBoth {
		return d, ErrDefaultSingleBoth
	}
	if which.Has(BusinessIssue) {
		d.Issue = id
	}
	if which.Has(BusinessReceive) {
		d.Receive = id
	}
	return d, nil
}

// Resolve returns the default account for the business b, or
// ErrNoDefaultAccount.
func (d Defaults) Resolve(b Business) (string, error) {
	if id := d.Of(b); id != "" {
		return id, nil
	}
	return "", ErrNoDefaultAccount
}
