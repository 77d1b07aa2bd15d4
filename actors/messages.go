// messages.go: the public commands and replies of the engine.

package actors

import (
	"time"

	"github.com/etaxd/etaxd/domain"
)

// The public commands of the engine. Each is a plain struct with JSON tags so
// that a later cluster mode can carry it across nodes (JSON inside a protobuf
// wrapper). Each command's comment names its reply; every command may also
// fail with a *domain.Error.

// Action is what a client needs of an account.
type Action string

const (
	ActionLogin   Action = "login"
	ActionCertify Action = "certify"
)

// RequestState is where a client request stands.
type RequestState string

const (
	RequestReady        RequestState = "ready"
	RequestAwaitingUser RequestState = "awaiting_user"
	RequestFailed       RequestState = "failed"
)

// SessionRequest asks for a logged-in (or certified) session of an account
// for a business. Without AccountID the enterprise's default account for the
// business is used (F5). Reply: SessionReply.
type SessionRequest struct {
	TaxNo     string         `json:"tax_no"`
	Business  domain.Channel `json:"business"` // issue or receive
	Action    Action         `json:"action"`
	AccountID string         `json:"account_id,omitempty"`
	// OpenID is set when a person asks in the H5 pages (F14). Such a request
	// checks a stored session with the bureau before it answers ready (B4);
	// an ERP's request answers from the stored session.
	OpenID string `json:"openid,omitempty"`
	Origin string `json:"origin,omitempty"` // "key:<id>", "wx:<openid>": for the audit log
}

// SessionView is a session handed to a client. Token is the secret the
// client needs; it appears in no log, audit record or page.
type SessionView struct {
	Channel   domain.Channel `json:"channel"`
	Token     string         `json:"token"`
	ExpiresAt time.Time      `json:"expires_at"`
}

// PromptView is what a client is told while a person must act.
type PromptView struct {
	ID        string     `json:"id"`
	Kind      PromptKind `json:"kind"`
	Message   string     `json:"message"`
	ExpiresAt time.Time  `json:"expires_at"`
	QRContent string     `json:"qr_content,omitempty"`
	// LoginURL is a signed, expiring browser link to the H5 login page,
	// set when nobody is bound to receive the WeChat message (F16).
	LoginURL string `json:"login_url,omitempty"`
}

// SessionReply answers SessionRequest, AwaitRequest and SubmitCode.
type SessionReply struct {
	State          RequestState  `json:"state"`
	RequestID      string        `json:"request_id"`
	AccountID      string        `json:"account_id"`
	Session        *SessionView  `json:"session,omitempty"`
	CertifiedUntil *time.Time    `json:"certified_until,omitempty"`
	Prompt         *PromptView   `json:"prompt,omitempty"`
	Error          *domain.Error `json:"error,omitempty"`
}

// AccountView is an account as the pages and the API list it: never a
// secret, never a full phone number.
type AccountView struct {
	ID              string                         `json:"id"`
	TaxNo           string                         `json:"tax_no"`
	EnterpriseName  string                         `json:"enterprise_name"`
	Region          string                         `json:"region"`
	Username        string                         `json:"username"`
	Role            domain.Role                    `json:"role"`
	RoleName        string                         `json:"role_name"`
	Business        domain.Business                `json:"business"`
	LoginType       domain.LoginType               `json:"login_type"`
	Bound           bool                           `json:"bound"`
	BoundOpenID     string                         `json:"-"`
	BoundToMe       bool                           `json:"bound_to_me,omitempty"`
	DefaultFor      domain.Business                `json:"default_for"`
	PhoneMasked     string                         `json:"phone_masked,omitempty"`
	Channels        map[domain.Channel]ChannelView `json:"channels"`
	CertifiedUntil  *time.Time                     `json:"certified_until,omitempty"`
	Locked          bool                           `json:"locked"`
	LockReason      domain.LockReason              `json:"lock_reason,omitempty"`
	LockReasonText  string                         `json:"lock_reason_text,omitempty"`
	PasswordInvalid bool                           `json:"password_invalid"`
	SMSRemaining    int                            `json:"sms_remaining"`
	Pending         *PromptView                    `json:"pending,omitempty"`
}

// ChannelView is one channel's login state.
type ChannelView struct {
	State     domain.SessionState `json:"state"`
	Text      string              `json:"text"`
	ExpiresAt *time.Time          `json:"expires_at,omitempty"`
}

// FlowState is where a verification flow (F3, F8, F9, F11) stands.
type FlowState string

const (
	FlowAwaitingCode     FlowState = "awaiting_code"
	FlowAwaitingPassword FlowState = "awaiting_password" // F11: code accepted, new password next
	FlowAwaitingScan     FlowState = "awaiting_scan"     // F3 扫码登录: QR shown, poll with PollFlow
	FlowDone             FlowState = "done"
)

// FlowReply answers the commands that run a verification with the tax
// bureau: AddAccount, ChangeBinding, ApplyAdmin, StartPasswordReset and
// SubmitFlowCode, CompleteReset.
type FlowReply struct {
	FlowID      string    `json:"flow_id"`
	State       FlowState `json:"state"`
	PhoneMasked string    `json:"phone_masked,omitempty"`
	ExpiresAt   time.Time `json:"expires_at,omitempty"`
	AccountID   string    `json:"account_id,omitempty"`
	Updated     int       `json:"updated,omitempty"` // F11, F12: accounts that got the new password
	// QR is the code to scan while the state is awaiting_scan.
	QR *QRView `json:"qr,omitempty"`
	// NextCodeAt and SMSRemaining are set while the state is awaiting_code:
	// when ResendFlowCode may ask the bureau for a new code (B3's interval)
	// and how many codes the person's phone may still get today.
	NextCodeAt   time.Time `json:"next_code_at,omitzero"`
	SMSRemaining int       `json:"sms_remaining,omitempty"`
}

// TenantInfo describes a tenant. ActivationCode is set only in the reply to
// CreateTenant and RotateActivationCode.
type TenantInfo struct {
	ID             string `json:"id"`
	Name           string `json:"name"`
	ActivationCode string `json:"activation_code,omitempty"`
}

// EnterpriseView is an enterprise of a tenant.
type EnterpriseView struct {
	TaxNo    string          `json:"tax_no"`
	Name     string          `json:"name"`
	Region   string          `json:"region"`
	Legacy   bool            `json:"legacy"`
	Admins   int             `json:"admins"`
	IsAdmin  bool            `json:"is_admin,omitempty"`
	Defaults domain.Defaults `json:"defaults"`
	Accounts int             `json:"accounts"`
}

// AddAccount is F3. Reply: FlowReply (done at once for no-SMS regions and,
// after the hosting provider delivered the code, for hosted login types).
type AddAccount struct {
	OpenID    string        `json:"openid"`
	TaxNo     string        `json:"tax_no"`
	Business  string        `json:"business"` // issue, receive, both
	Username  string        `json:"username"`
	Password  domain.Secret `json:"-"`
	LoginType string        `json:"login_type"`
	Role      string        `json:"role,omitempty"` // optional: checked against the bureau's record
	// QRApp, when set, verifies by a QR scan in that app (扫码登录) instead
	// of the password and an SMS code; the password is stored unverified.
	QRApp QRApp `json:"qr_app,omitempty"`
}

// QRView answers StartQRLogin and PollQRLogin (F15).
type QRView struct {
	QRID      string    `json:"qr_id"`
	App       QRApp     `json:"app"`
	Content   string    `json:"content"`
	State     QRState   `json:"state"`
	ExpiresAt time.Time `json:"expires_at"`
}
