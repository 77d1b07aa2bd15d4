package taxbureau

import (
	"context"
	"time"

	"github.com/etaxd/etaxd/domain"
)

// Gateway is etaxd's view of the tax bureau (docs/GATEWAY.md). Every method honours
// ctx's deadline. Errors are domain catalogue errors (errors.Is with
// domain.ErrWrongPassword, domain.ErrNoRelation, domain.ErrWrongCode,
// domain.ErrCodeExpired, domain.ErrBureauPwdLocked, domain.ErrSMSBudget,
// domain.ErrPasswordPolicy, domain.ErrIdentityMismatch, domain.ErrQRExpired,
// domain.ErrNoChallenge, domain.ErrBureauUnavailable, domain.ErrNotLoggedIn,
// domain.ErrRoleBusiness); anything else is a transport failure.
type Gateway interface {
	// Login checks username and password for the enterprise taxNo in region
	// and opens a login for channel. In regions without the SMS step it
	// returns a Session at once; otherwise a Challenge (a 6-digit code was sent
	// to the person's phone). Either way it reports the person's Role on the
	// enterprise and an opaque PersonID.
	Login(ctx context.Context, req LoginRequest) (LoginResult, error)
	// SubmitCode completes a login challenge with the SMS code.
	SubmitCode(ctx context.Context, challengeID, code string) (Session, error)
	// StartQR opens a QR login for the enterprise, scanned in app.
	StartQR(ctx context.Context, req QRRequest) (QRChallenge, error)
	// PollQR reports a QR login's state; once confirmed it carries the session.
	// Expiry is a state (QRExpired) with a nil error, not domain.ErrQRExpired.
	PollQR(ctx context.Context, qrID string) (QRStatus, error)
	// StartCertification opens a face certification for a logged-in session.
	StartCertification(ctx context.Context, token string) (FaceChallenge, error)
	// PollCertification reports a certification's state; expiry is a state,
	// as in PollQR.
	PollCertification(ctx context.Context, certID string) (CertStatus, error)
	// Relations lists the enterprises and roles of the person behind the
	// credentials.
	Relations(ctx context.Context, region, username, password string) ([]Relation, error)
	// VerifyPassword checks a password without opening a session (F12).
	VerifyPassword(ctx context.Context, region, username, password string) error
	// StartReset checks the person's identity document and sends a reset code
	// (F11).
	StartReset(ctx context.Context, req ResetRequest) (Challenge, error)
	// CompleteReset sets a new password after a correct code. The bureau's
	// password policy applies (domain.ErrPasswordPolicy).
	CompleteReset(ctx context.Context, challengeID, code, newPassword string) error
	// CheckSession reports whether a session token is still alive and until
	// when. Callers cache the answer: the bureau dislikes frequent checks.
	CheckSession(ctx context.Context, token string) (SessionStatus, error)
}

// LoginRequest asks for a login of one person on one enterprise.
type LoginRequest struct {
	Region   string // domain region code
	TaxNo    string
	Username string
	Password string
	Channel  domain.Channel
}

// LoginResult is a login's first step.
type LoginResult struct {
	PersonID  string      // opaque, stable per natural person
	Role      domain.Role // the person's role on the enterprise
	Session   *Session    // set when the region skips the SMS step
	Challenge *Challenge  // set when a code was sent
}

// Challenge is a pending SMS verification.
type Challenge struct {
	ID          string
	PhoneMasked string // 151****1832
	ExpiresAt   time.Time
}

// Session is a logged-in session at the tax bureau.
type Session struct {
	Token      string
	Channel    domain.Channel
	ObtainedAt time.Time
	ExpiresAt  time.Time
}

// QRApp is the app that scans a login QR code (F15).
type QRApp string

const (
	AppTax QRApp = "tax" // 税务APP (the default)
	AppIIT QRApp = "iit" // 个人所得税APP
)

// QRRequest opens a QR login.
type QRRequest struct {
	Region  string
	TaxNo   string
	Channel domain.Channel
	App     QRApp
}

// QRChallenge is a QR code to show.
type QRChallenge struct {
	ID        string
	Content   string // what the QR code encodes
	ExpiresAt time.Time
}

// QRState is the progress of a QR login or a face certification.
type QRState string

const (
	QRWaiting   QRState = "waiting"
	QRScanned   QRState = "scanned"
	QRConfirmed QRState = "confirmed"
	QRExpired   QRState = "expired"
)

// QRStatus reports a QR login.
type QRStatus struct {
	State    QRState
	PersonID string
	Role     domain.Role
	Session  *Session // when confirmed
}

// FaceChallenge is a face certification to pass in the tax app.
type FaceChallenge struct {
	ID        string
	Content   string
	ExpiresAt time.Time
}

// CertStatus reports a certification; ValidUntil is set once passed (zero
// validity means it covers one invoice only, ValidUntil == passed time).
type CertStatus struct {
	State      QRState
	ValidUntil time.Time
}

// Relation is one enterprise a person may act for.
type Relation struct {
	TaxNo  string      `json:"tax_no"`
	Region string      `json:"region"`
	Role   domain.Role `json:"role"`
}

// ResetRequest starts a password reset.
type ResetRequest struct {
	Region   string
	Username string
	IDType   string // "201" 居民身份证, ...
	IDNumber string
}

// SessionStatus is CheckSession's answer.
type SessionStatus struct {
	Alive     bool
	ExpiresAt time.Time
}

// SMSProvider reads SMS codes for hosted numbers (华盟托管号码, 企享云办税小号):
// the login completes without a person. FetchCode waits, within ctx, for the
// newest code sent to the account's phone after since, and returns
// domain.ErrHostedCodeTimeout when none arrives.
type SMSProvider interface {
	FetchCode(ctx context.Context, loginType domain.LoginType, username string, since time.Time) (string, error)
}
