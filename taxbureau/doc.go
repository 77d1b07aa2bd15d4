// Package taxbureau is etaxd's boundary with the tax bureau (电子税务局).
//
// # The Gateway
//
// Gateway is everything etaxd asks of the bureau: a password login that ends
// in a session or an SMS challenge, the code that completes it, QR logins
// (F15), face certification, a person's relations to enterprises, a password
// check (F12), a password reset (F11) and a session check. SMSProvider reads
// codes sent to hosted numbers (华盟托管号码, 企享云办税小号) so a login
// completes without a person. Both honour ctx and fail with domain catalogue
// errors (errors.Is with domain.ErrWrongPassword and friends); any other
// error is a transport failure. Only account actors call them, never inside a
// receive: a call may take as long as the bureau does.
//
// # The simulator
//
// Simulator implements Gateway in process with the bureau's rules as public
// sources describe them (docs/FEATURES.md, "The simulated tax bureau"); etax-sim serves it
// over HTTP and tests use it directly. Each rule is a SimConfig field;
// DefaultSimConfig gives:
//
//	SMS codes            6 digits, valid 5 min, 3 wrong tries kill the challenge
//	SMS budget           20 codes per phone per region per bureau day (login and reset alike)
//	QR and face codes    valid 120 s
//	sessions             3 h; one live session per person, region and channel
//	certification        24 h, per-enterprise override, 0 = ValidUntil is the moment it passed
//	password policy      8–15 printable ASCII characters, a special one, two of upper/lower/digit
//	password lock        5 consecutive wrong passwords lock the person's password until the next day
//	no SMS step          44 广东, 33 浙江, 12 天津, 42 湖北 (exact codes: 4403 深圳 is its own bureau)
//	role and platform    办税员, 购票员 and 其他 may not log in to the issue platform
//
// The bureau's "day" is the calendar day in Asia/Shanghai (domain.Day): the
// budget and the password lock end at midnight there. Time comes from the
// injected clock.Clock; the simulator sets no timers of its own, so a
// clock.Fake drives every expiry through Advance.
//
// Persons are seeded with AddPerson. Username, phone and ID number each work
// as a login name (case and surrounding spaces ignored) and belong to one
// person only. PersonID is derived from the ID number, so a reseeded
// simulator reports the same ids. The outbox (SentCodes, LastCode) stands in
// for the person's phone; ScanQR, ScanQRUnconfirmed and PassFace stand in for
// the person's app. KeepPersons hands every change of a person to a save
// function before the change is acknowledged (etaxd keeps them in a file,
// EncodePersons' shape, and loads them at start with DecodePersons); a
// failed save undoes the change.
//
// # Interpretations
//
// Where the sources leave room, the simulator decides as follows.
//
//   - One live session per natural person per region per channel. The issue
//     platform (开票) and the receive platform (勾选) are separate systems, so
//     one person may hold one session on each; a new login on the same
//     region and channel ends the older session, whatever enterprise either
//     was for. CheckSession then reports Alive=false.
//   - A relation that names a region matches only that region; the session,
//     the SMS budget and the no-SMS rule use the relation's region. A request
//     with an empty region takes the relation's; a relation with an empty
//     region takes the request's.
//   - Login checks, in order: login name, password lock, password,
//     relation, role and platform, SMS budget. An unknown login name is
//     domain.ErrWrongPassword and counts toward nothing. Wrong passwords
//     count per person, across Login, Relations and VerifyPassword and
//     across regions, and only consecutively within one day. The wrong
//     try that reaches the limit returns domain.ErrBureauPwdLocked wrapping
//     domain.ErrWrongPassword, so errors.Is holds for both; while locked,
//     even the right password gets domain.ErrBureauPwdLocked.
//   - A challenge past its expiry answers domain.ErrCodeExpired for at
//     least ten minutes, then domain.ErrNoChallenge. A challenge whose code is right
//     is used up. A refused send (budget) spends nothing and sends nothing.
//   - PollQR and PollCertification report expiry as State QRExpired with a
//     nil error; ScanQR and PassFace on an expired code fail with
//     domain.ErrQRExpired. A QR login's session is opened when the person
//     confirms, and its three hours start then.
//   - A reset checks the code before the policy; a policy failure keeps the
//     challenge. A completed reset clears the lock and leaves the person's
//     live sessions alive: the bureau ties sessions to tokens, not
//     passwords, and killing them would cost SMS budget for nothing. An
//     unknown username in StartReset is domain.ErrIdentityMismatch.
//   - Passwords seeded with AddPerson or SetPassword skip the policy (legacy
//     passwords exist); only CompleteReset enforces it.
//
// # Over HTTP
//
// NewServer serves a Simulator over the gateway contract (docs/GATEWAY.md):
// one JSON POST per Gateway method under /gateway/v1/, plus sms/fetch, a
// long poll for the hosted-number SMSProvider. Errors travel as
// {"error":{"code","message","message_en"}} with the catalogue code, a 4xx
// for the bureau's refusals and bad input and 503 when the bureau is
// unavailable; a catalogue error wrapped in another (the password lock)
// travels along as "cause". Test-only endpoints under /sim/v1/ create
// persons and play their phone and app. Bodies are size-limited and strict
// (unknown fields are refused); no input makes the server panic or answer
// 5xx, which FuzzServer checks. etax-sim is NewServer in a process; etaxd
// mounts the same handler next to its API.
//
// Client is the other end: a Gateway and an SMSProvider that rebuild the
// server's catalogue errors, so errors.Is answers as it does against the
// Simulator; the conformance tests run the same checks against both. Every
// failure that is not the bureau's answer becomes
// domain.ErrBureauUnavailable with the cause inside. The Client bounds each
// attempt by its Timeout and the call by ctx, retries only what is safe to
// retry (the reads and polls; any call whose request was never written),
// and has a circuit breaker on an injected clock.Clock: after
// BreakerThreshold consecutive failures it fails every call at once, then
// lets one probe through after the cool-down.
//
// # Fault hooks
//
// In the spirit of tailscale's testcontrol, tests steer the simulator:
// SetFault and FailNext make a method fail, SetLatency slows every call
// (honouring ctx on a real timer), and Calls counts the calls per method so a
// test can assert "exactly one bureau login". A call is counted first, then
// a done ctx, the latency and an injected fault end it before any rule runs,
// so a faulted call changes nothing at the bureau. Method names are the
// Method constants; an unknown name panics. SimSMSProvider has SetFault for
// code timeouts and wrong codes.
//
// # Concurrency
//
// A Simulator, the NewServer handler and a Client are safe for concurrent
// use. One mutex guards the bureau's state and is held only for map work;
// latency waits and FetchCode waits run outside it. Fault settings have
// their own mutex and the call counters are atomic. FetchCode waits on a
// channel the simulator closes at every send, not by polling. The Client's
// breaker has a mutex of its own, held for no I/O, and its counters are
// atomic.
package taxbureau
