// Package domain holds etaxd's rules: the types of the domain model and the
// pure functions that decide what an account may do. It is the functional
// core of "functional core, actor shell": the actors own state, timers and
// I/O, and call in here for every decision, so each rule lives exactly once
// and is table-tested without actors, clocks or disks.
//
// # Invariants
//
// The package does no I/O, reads no clock, starts no goroutine and keeps no
// mutable state of its own: every function is deterministic in its arguments,
// and "now" is always a parameter. It imports only the standard library and
// nothing of etaxd, so every other package may import it. Values are plain
// data: state transitions (Machine.Apply, LockState.RecordFailure,
// Defaults.SetDefault, PhoneBudget.Spend, ...) return a new value and never
// change their receiver (nor the maps it holds),
// so a caller can decide first and commit the new state afterwards. Nothing
// here is shared between goroutines; the account actor that owns a value is
// its only writer.
//
// # Files and the features they carry
//
//   - errors.go: the catalogue of user-visible errors (see below).
//   - types.go: businesses (开票/收票), channels, roles and the business each
//     role permits (办税员 cannot issue; F3), who may become an admin (F9),
//     login types (the withdrawn 发票云登录App is refused; F3, F13), phone
//     masking and validation (F6).
//   - taxno.go: tax numbers: the 统一社会信用代码 with its GB 32100-2015 check
//     digit, and the legacy 15/17/18/20-character ids; resident ID numbers
//     and their GB 11643-1999 check character (ValidIDCard, IDCheckDigit).
//   - region.go: the 36 tax-bureau regions and the region of a tax number.
//   - account.go: Secret (a password or token that never prints); the lock
//     rules of hosted accounts (F13) and the refused-password guard (B2) in
//     LockState; the SMS budget per phone and the interval per account
//     (B3: CheckAccountInterval, CheckResendInterval, SMSPolicy.CodeWait); who may
//     operate or bind an account (F4, F9, F10) in CanOperate and CanBind;
//     session states.
//   - defaults.go: the default issue and receive accounts of an enterprise
//     (F5) and their clearing on delete (F10).
//   - machine.go: an account's life (SPEC §5) as a state machine:
//     Machine.Decide(state, command, now) returns the events a command
//     causes (or its refusal) and Machine.Apply(state, event) the state
//     after one. Per channel a login in progress (stage, nonce, challenge)
//     and the session's expiry; the certification in progress; the lock
//     state, the masked phone and the last code's time. The account actor
//     only carries the events out. machine_resend.go adds 重新获取验证码 of
//     a login waiting for a code (ResendCode, CodeResent; B3).
//   - rules.go: the small rules called from several places: the SMS code
//     (6 digits), a client request's action, the request id's layout, the
//     tax number's lookup form, role and business (F3), input limits, the
//     same natural person (F11, F12) and the prompt sentences (F6, F16).
//
// rules_test.go lists each rule of SPEC §4 and §5 with the one function
// here that decides it.
//
// # Errors
//
// Every refusal a user can see is an *Error from the catalogue in errors.go:
// a stable machine code that clients match on, a Chinese message (word for
// word from the manual where it gives one) and an English one. With adds a
// detail to both messages and Wrap attaches an internal cause for the logs;
// neither changes the code. Compare with errors.Is, which matches on the code
// through any amount of fmt.Errorf("...: %w") wrapping:
//
//	if errors.Is(err, domain.ErrLocked) { ... }
//
// never by message text. At the edge, AsError turns any error into a
// catalogue entry, mapping foreign ones to ErrInternal so their text never
// reaches a user.
package domain
