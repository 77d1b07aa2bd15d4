package taxbureau

import (
	"time"

	"github.com/etaxd/etaxd/domain"
	"github.com/etaxd/etaxd/internal/errbody"
)

// This file holds the gateway contract's JSON shapes (docs/GATEWAY.md),
// shared by NewServer and Client so the two cannot drift apart. Field names
// are snake_case; times are RFC 3339 with their offset; an optional time is
// left out when zero.

// GatewayPathPrefix is where the gateway contract lives: every Gateway and
// SMSProvider endpoint is a POST under it. Mount a NewServer handler on it.
const GatewayPathPrefix = "/gateway/v1/"

// SimPathPrefix is where the simulator's test-only endpoints live, served
// when ServerOptions.TestEndpoints is set.
const SimPathPrefix = "/sim/v1/"

// The gateway endpoints, absolute.
const (
	pathLogin        = GatewayPathPrefix + "login"
	pathSubmitCode   = GatewayPathPrefix + "submit_code"
	pathQRStart      = GatewayPathPrefix + "qr/start"
	pathQRPoll       = GatewayPathPrefix + "qr/poll"
	pathCertStart    = GatewayPathPrefix + "certification/start"
	pathCertPoll     = GatewayPathPrefix + "certification/poll"
	pathRelations    = GatewayPathPrefix + "relations"
	pathVerify       = GatewayPathPrefix + "verify_password"
	pathResetStart   = GatewayPathPrefix + "reset/start"
	pathResetDone    = GatewayPathPrefix + "reset/complete"
	pathSessionCheck = GatewayPathPrefix + "session/check"
	pathSMSFetch     = GatewayPathPrefix + "sms/fetch"
)

// maxFetchWait caps a long poll of sms/fetch.
const maxFetchWait = 60 * time.Second

type wireSession struct {
	Token      string         `json:"token"`
	Channel    domain.Channel `json:"channel"`
	ObtainedAt time.Time      `json:"obtained_at"`
	ExpiresAt  time.Time      `json:"expires_at"`
}

func toWireSession(s *Session) *wireSession {
	if s == nil {
		return nil
	}
	return &wireSession{Token: s.Token, Channel: s.Channel, ObtainedAt: s.ObtainedAt, ExpiresAt: s.ExpiresAt}
}

func (w *wireSession) session() *Session {
	if w == nil {
		return nil
	}
	return &Session{Token: w.Token, Channel: w.Channel, ObtainedAt: w.ObtainedAt, ExpiresAt: w.ExpiresAt}
}

type wireChallenge struct {
	ID          string    `json:"id"`
	PhoneMasked string    `json:"phone_masked"`
	ExpiresAt   time.Time `json:"expires_at"`
}

func toWireChallenge(c *Challenge) *wireChallenge {
	if c == nil {
		return nil
	}
	return &wireChallenge{ID: c.ID, PhoneMasked: c.PhoneMasked, ExpiresAt: c.ExpiresAt}
}

func (w *wireChallenge) challenge() *Challenge {
	if w == nil {
		return nil
	}
	return &Challenge{ID: w.ID, PhoneMasked: w.PhoneMasked, ExpiresAt: w.ExpiresAt}
}

type loginBody struct {
	Region   string         `json:"region"`
	TaxNo    string         `json:"tax_no"`
	Username string         `json:"username"`
	Password string         `json:"password"`
	Channel  domain.Channel `json:"channel"`
}

type loginReply struct {
	PersonID  string         `json:"person_id"`
	Role      domain.Role    `json:"role"`
	Session   *wireSession   `json:"session,omitempty"`
	Challenge *wireChallenge `json:"challenge,omitempty"`
}

type submitCodeBody struct {
	ChallengeID string `json:"challenge_id"`
	Code        string `json:"code"`
}

type qrStartBody struct {
	Region  string         `json:"region"`
	TaxNo   string         `json:"tax_no"`
	Channel domain.Channel `json:"channel"`
	App     QRApp          `json:"app,omitempty"`
}

// codeReply is a QR or face challenge.
type codeReply struct {
	ID        string    `json:"id"`
	Content   string    `json:"content"`
	ExpiresAt time.Time `json:"expires_at"`
}

type qrPollBody struct {
	QRID string `json:"qr_id"`
}

type qrStatusReply struct {
	State    QRState      `json:"state"`
	PersonID string       `json:"person_id,omitempty"`
	Role     domain.Role  `json:"role,omitempty"`
	Session  *wireSession `json:"session,omitempty"`
}

type certStartBody struct {
	Token string `json:"token"`
}

type certPollBody struct {
	CertID string `json:"cert_id"`
}

type certStatusReply struct {
	State      QRState   `json:"state"`
	ValidUntil time.Time `json:"valid_until,omitzero"`
}

type credentialsBody struct {
	Region   string `json:"region"`
	Username string `json:"username"`
	Password string `json:"password"`
}

type relationsReply struct {
	Relations []Relation `json:"relations"`
}

type okReply struct {
	OK bool `json:"ok"`
}

type resetStartBody struct {
	Region   string `json:"region"`
	Username string `json:"username"`
	IDType   string `json:"id_type"`
	IDNumber string `json:"id_number"`
}

type resetCompleteBody struct {
	ChallengeID string `json:"challenge_id"`
	Code        string `json:"code"`
	NewPassword string `json:"new_password"`
}

type sessionCheckBody struct {
	Token string `json:"token"`
}

type sessionStatusReply struct {
	Alive     bool      `json:"alive"`
	ExpiresAt time.Time `json:"expires_at,omitzero"`
}

type smsFetchBody struct {
	LoginType domain.LoginType `json:"login_type"`
	Username  string           `json:"username"`
	Since     time.Time        `json:"since"`
	WaitMS    int64            `json:"wait_ms"`
}

type smsFetchReply struct {
	Code string `json:"code"`
}

// The test-only shapes of /sim/v1.

// personBody is a natural person as POST /sim/v1/persons and a seed file
// give it. Role takes a code ("01") or a Chinese name ("法定代表人").
type personBody struct {
	ID        string         `json:"id,omitempty"`
	Name      string         `json:"name"`
	IDType    string         `json:"id_type"`
	IDNumber  string         `json:"id_number"`
	Phone     string         `json:"phone"`
	Username  string         `json:"username"`
	Password  string         `json:"password"`
	Relations []relationBody `json:"relations"`
}

type relationBody struct {
	TaxNo  string `json:"tax_no"`
	Region string `json:"region"`
	Role   string `json:"role"`
}

// person checks what AddPerson does not (the role's spelling and the
// region's code) and returns the Person; AddPerson checks the rest.
func (b *personBody) person() (Person, error) {
	p := Person{ID: b.ID, Name: b.Name, IDType: b.IDType, IDNumber: b.IDNumber, Phone: b.Phone,
		Username: b.Username, Password: b.Password}
	for _, r := range b.Relations {
		role, err := domain.ParseRole(r.Role)
		if err != nil {
			return Person{}, domain.ErrInvalidRole.With("关联关系的身份应为代码（如01）或名称（如法定代表人）",
				"relations.role must be a role code such as 01 or its Chinese name")
		}
		if r.Region != "" {
			if _, ok := domain.RegionByCode(r.Region); !ok {
				return Person{}, domain.ErrInvalidRegion.With("关联关系的地区代码不正确", "relations.region is not a region code")
			}
		}
		p.Relations = append(p.Relations, Relation{TaxNo: r.TaxNo, Region: r.Region, Role: role})
	}
	return p, nil
}

type personReply struct {
	ID string `json:"id"`
}

type scanBody struct {
	Username string `json:"username"`
	// Confirm is whether the person also confirms the login; true when
	// absent.
	Confirm *bool `json:"confirm,omitempty"`
}

// Errors on the wire.

// errorReply is the body of every failed request.
type errorReply struct {
	Error *wireError `json:"error"`
}

// wireError is a domain.Error on the wire. Cause carries the domain errors
// the error wraps (domain.ErrBureauPwdLocked wraps domain.ErrWrongPassword),
// so errors.Is gives the same answers on the client side; causes that are
// not catalogue errors stay in the server's log.
type wireError struct {
	Code      string     `json:"code"`
	Message   string     `json:"message"`
	MessageEN string     `json:"message_en"`
	Cause     *wireError `json:"cause,omitempty"`
}

// maxCauseDepth bounds the causes carried on the wire, both ways.
const maxCauseDepth = 4

func toWireError(e *domain.Error) *wireError {
	w := &wireError{Code: e.Code, Message: e.Message, MessageEN: e.MessageEN}
	cur := w
	for depth := 1; depth < maxCauseDepth && e.Cause != nil; depth++ {
		next, ok := e.Cause.(*domain.Error)
		if !ok {
			break
		}
		cur.Cause = &wireError{Code: next.Code, Message: next.Message, MessageEN: next.MessageEN}
		cur, e = cur.Cause, next
	}
	return w
}

// domainError rebuilds the catalogue error. The code decides errors.Is, so
// a code this build does not know still compares equal to its own kind.
func (w *wireError) domainError() *domain.Error {
	return w.domainErrorDepth(0)
}

func (w *wireError) domainErrorDepth(depth int) *domain.Error {
	e := &domain.Error{Code: w.Code, Message: w.Message, MessageEN: w.MessageEN}
	if w.Cause != nil && w.Cause.Code != "" && depth+1 < maxCauseDepth {
		e.Cause = w.Cause.domainErrorDepth(depth + 1)
	}
	return e
}

// Codes of the contract itself, outside the domain catalogue.
const (
	codeUnauthorized     = "unauthorized"
	codeNotFound         = "not_found"
	codeMethodNotAllowed = "method_not_allowed"
	codePersonExists     = "person_exists"
	codeUnknownPerson    = "unknown_person"
)

// Errors of the contract itself, outside the domain catalogue: a client
// rebuilds them from their codes, which internal/errbody's gateway table
// knows.
var (
	errUnauthorized = &domain.Error{Kind: domain.KindUnauthenticated, Code: codeUnauthorized, Message: "网关令牌缺失或不正确",
		MessageEN: "missing or wrong gateway bearer token"}
	errNotFound = &domain.Error{Kind: domain.KindNotFound, Code: codeNotFound, Message: "接口不存在",
		MessageEN: "no such endpoint"}
	errMethodNotAllowed = &domain.Error{Kind: domain.KindInvalid, Code: codeMethodNotAllowed, Message: "请求方法不正确",
		MessageEN: "method not allowed on this endpoint"}
	errPersonExists = &domain.Error{Kind: domain.KindConflict, Code: codePersonExists, Message: "该自然人已存在（用户名、手机号或证件号码已被使用）",
		MessageEN: "a person with this username, phone, ID number or id already exists"}
	errUnknownPerson = &domain.Error{Kind: domain.KindNotFound, Code: codeUnknownPerson, Message: "自然人不存在",
		MessageEN: "no person logs in with this name"}
)

// statusOf is the HTTP status of an error code on the gateway wire (see
// internal/errbody).
func statusOf(code string) int {
	return errbody.Status(errbody.Gateway, &domain.Error{Code: code})
}
