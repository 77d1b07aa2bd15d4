// Package actors is etaxd's actor shell: it owns every account's live state
// and runs each rule of the domain package against it, with protoactor-go
// kept behind the Engine type.
//
// # Shape
//
//	Engine ──► root ──► tenant actor (one per tenant, OneForOne) ──► account actor (one per account)
//	                                   └──► flow actors (short-lived verifications: F3, F8, F9, F11)
//
// The root spawns a tenant actor on first use; the engine caches its PID so
// later requests skip the root. A tenant actor owns what spans accounts: the
// WeChat users linked with the activation code (F1, F2), the enterprises and
// their admins (F9) and defaults (F5), and an index entry per account with the
// WeChat binding (F4, F7, F8) — a relation between a tenant's user and an
// account, which is why the tenant and not the account writes it. An account
// actor owns the account's state: password, per-channel sessions,
// certification, lock counters and lock (F13), the refused-password guard
// (B2), the SMS interval (B3), the login in progress per channel with its
// code timer, and the client requests waiting for it (single flight, B1).
// It decides none of these rules itself: domain.Machine decides every
// transition and the actor carries the events out (account_core.go).
//
// # Files
//
// One file per concern; each opens with a line naming it.
//
//   - engine.go: the Engine (Start, Stop, the ask to a tenant);
//     engine_tenants.go, engine_accounts.go and engine_sessions.go its
//     operations; messages.go the public commands and replies; limiter.go
//     the in-memory rate limits.
//   - root.go: the root actor, which spawns and routes to tenants.
//   - tenant.go: the tenant actor's commands, state, commits and dispatch;
//     tenant_children.go its account actors (spawn, passivation, erase);
//     tenant_links.go WeChat users (F1, F2); tenant_bindings.go bindings (F4,
//     F7, F8); tenant_enterprises.go enterprises, defaults and admins (F5,
//     F9); tenant_flows.go the verification flows and password updates (F3,
//     F8, F9, F11, F12); tenant_sessions.go session requests and answers.
//   - account.go: the account actor's commands, state, commits and dispatch;
//     account_sessions.go client requests, the snapshot and B4's check;
//     account_login.go the bureau login (B1, F13); account_cert.go face
//     certification (F14); account_qr.go QR login (F15); account_prompts.go
//     prompts and reminders (F6, F16, B5); account_core.go the bridge to
//     domain.Machine (the state it decides on, tracking and committing its
//     events).
//   - views.go: the one builder of an AccountView, for the index, a stored
//     record and a live actor.
//   - flow.go: the flow actor (F3, F8, F9, F11); resend.go 重新获取验证码
//     (B3); awaitlogin.go a manual account added without a flow;
//     promptstatus.go the prompt page's status; pwguard.go the wrong-password
//     guard (B2).
//   - deps.go: Config and the shared dependencies; records.go store keys,
//     records and sealing; reseal.go key rotation; links.go signed login
//     links (F16); apikeys.go client API keys; stats.go counters.
//   - types.go: the engine's own types for what its API returns and takes
//     (QR login, prompt kinds, audit events, webhooks, store counters), so
//     that the HTTP side imports no package below actors; services.go the
//     webhook registry, dev inbox and store probe in those types.
//
// # Contracts
//
//   - One writer per key (persistence.KeyOwners). tenant/… and accref/… are
//     written by the tenant actor, account/… by the account actor (created
//     once by the tenant when F3 completes, deleted by the account on F10,
//     with the tenant's defaults in the same transaction); wxuser/… and
//     smsbudget/… and pwguard/… (a person's wrong bureau passwords,
//     pwguard.go), which several actors share, through revision-checked
//     updates.
//     Every write is revision checked, so a second activation of the same
//     actor (cluster mode) cannot win.
//   - A state change is computed on a copy, committed with its audit event
//     in one transaction (CommitAudited), and only then becomes the actor's
//     state and is acknowledged. A failed commit fails the command with
//     ErrBusy and leaves the state as it was; the actor reloads, since a
//     commit whose fsync failed may have landed. Store calls inside an actor
//     are a bounded wait (Config.StoreTimeout) on the store's group commit,
//     which never calls back into actors: it cannot deadlock, and many
//     actors' writes share one fsync.
//   - The tax bureau is never called on an actor's goroutine: goAsync runs
//     the call with Config.GatewayTimeout and sends the result back as a
//     message, tagged with a nonce so a stale result is ignored. Those
//     goroutines are the engine's: Engine.Stop cancels them and waits.
//   - Nothing is loaded eagerly. A tenant reads its record and account index
//     when it activates; an account reads its record when it activates, and
//     passivates after Config.IdleTimeout without a pending login. The parent
//     owns passivation: the child asks, the parent forgets it, poisons it and
//     buffers that account's messages until Terminated, then respawns it.
//     (A message queued behind a PoisonPill would be dropped otherwise.)
//   - A restarted actor (supervision: restart up to 10 times a minute) loses
//     its memory and rebuilds it from the store in Started. Waiting requests
//     are lost with it; their callers time out.
//   - The hot path, "the session of a logged-in account", is answered by the
//     tenant from an immutable snapshot the account publishes after each
//     commit. The account stays the only writer.
//   - Secrets: passwords and session tokens are sealed (AES-256-GCM, the
//     record key as associated data) before they reach the store, and are
//     domain.Secret in memory, which never prints.
//   - Time comes from an injected clock.Clock; code expiry timers carry a
//     nonce. Prompts leave through prompts.Publisher, client events through
//     events.EventSink; neither may block.
//
// Every command the engine sends is a plain struct, so that a later cluster
// mode can carry it across nodes as JSON in a protobuf wrapper with the
// tenant actor as the grain and its accounts as local children.
package actors
