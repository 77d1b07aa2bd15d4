// Package importer reads a bulk onboarding file — enterprises and their
// tax-bureau accounts, as CSV or XLSX with a header row — checks every row
// with the domain catalogue's errors, and then adds the good rows through a
// Target (the ops API adapts the actors.Engine to it).
//
// The work has three steps, and nothing is written before the last:
//
//  1. Parse reads the file into Records: the header row names the columns
//     (Columns; any order, unknown or repeated names refused), blank rows
//     are skipped, and a row is identified by its position in the file (the
//     header is row 1, as a spreadsheet numbers it).
//  2. Validate checks each record on its own (tax number and its check
//     digit, region, name, username, password, business, login type, role
//     and whether it allows the business) and against the others (the same
//     tax number and username twice; one tax number with two names or
//     regions). Plan then checks the valid rows against the tenant: an
//     account with the same tax number and username is "exists" and left
//     as it is, a bound_openid must have linked the tenant.
//  3. Run writes, unless asked for a dry run, and only when no row is
//     invalid or the caller chose to skip invalid rows: a missing enterprise
//     is added first; a hosted login type (huameng, qixiangyun) is added
//     and verified with the bureau at once, its SMS code read by the
//     hosting provider; a manual one is created waiting for its first login,
//     whose SMS code then comes through the usual prompt. A row with a
//     bound_openid is bound to that WeChat user once added.
//
// A re-run of the same file finds every added account and reports it
// "exists", changing nothing. Passwords are domain.Secret from the moment
// they are read; no result, report or error carries one.
//
// # Concurrency
//
// Parse, Validate and the report writers are pure. Run calls the Target
// from a few goroutines at once (Options.Parallel) and reports the rows to
// its callback in file order, from the calling goroutine.
package importer
