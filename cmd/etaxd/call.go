package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/etaxd/etaxd/internal/sign"
)

// call and sign make signed requests of the client API (internal/sign):
// call sends one and prints the answer; sign prints the headers, or a curl
// line, for another tool to send.

// signFlags are the credentials of call and sign.
type signFlags struct {
	clientFlags
	key, secret string
	demo        bool
	idem        string
}

func (f *signFlags) bind(fs *flag.FlagSet) {
	f.clientFlags.bind(fs)
	fs.StringVar(&f.key, "key", "", "API key `ID` (X-Etaxd-Key)")
	fs.StringVar(&f.secret, "secret", "", "API key `SECRET` (default ETAXD_API_SECRET; prefer it, flags show in ps)")
	fs.BoolVar(&f.demo, "demo", false, "use the demo API key from <data>/demo.json (etaxd serve --demo writes it)")
	fs.StringVar(&f.idem, "idempotency-key", "", "send an Idempotency-Key `KEY` (POST: the same key gets the same answer for 24 h)")
}

// envAPISecret may hold the secret, so it stays out of ps.
const envAPISecret = "ETAXD_API_SECRET"

// credentials returns the key id and secret: --key/--secret (or
// ETAXD_API_SECRET), or the demo key with --demo.
func (f *signFlags) credentials() (id string, secret []byte, err error) {
	if f.demo {
		if f.key != "" || f.secret != "" {
			return "", nil, usageErr{errors.New("--demo takes the key from demo.json: drop --key and --secret")}
		}
		dir := f.data
		if dir == "" {
			o, err := f.localOptions()
			if err != nil {
				return "", nil, err
			}
			dir = o.DataDir
		}
		path := filepath.Join(dir, "demo.json")
		df, err := readDemoFile(path)
		if err != nil {
			return "", nil, fmt.Errorf("read the demo key: %w (run etaxd serve --demo first, or pass --data)", err)
		}
		if df.APIKeyID == "" || df.APIKeySecret == "" {
			return "", nil, fmt.Errorf("%s holds no API key", path)
		}
		return df.APIKeyID, []byte(df.APIKeySecret), nil
	}
	secret = []byte(f.secret)
	if len(secret) == 0 {
		secret = []byte(os.Getenv(envAPISecret))
	}
	if f.key == "" || len(secret) == 0 {
		return "", nil, usageErr{fmt.Errorf("give --key and --secret (or %s), or --demo", envAPISecret)}
	}
	return f.key, secret, nil
}

// usageErr is a problem with the command line (exit 2) rather than with
// what it names (exit 1).
type usageErr struct{ error }

// requestProblem reports err from newSignedRequest with its exit code.
func requestProblem(stderr io.Writer, name string, err error) int {
	var ue usageErr
	if errors.As(err, &ue) {
		return usageError(stderr, name, "%v", ue.error)
	}
	return failure(stderr, name, err)
}

// signedRequest is a request of the client API and its signature headers.
type signedRequest struct {
	method  string
	path    string // with the query, as signed
	body    []byte
	headers map[string]string
}

// newSignedRequest checks the positional arguments METHOD PATH [BODY] and
// signs them at now. BODY "@FILE" reads the body from FILE.
func newSignedRequest(f *signFlags, pos []string, now time.Time) (*signedRequest, error) {
	method := strings.ToUpper(pos[0])
	if !slices.Contains([]string{"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"}, method) {
		return nil, usageErr{fmt.Errorf("METHOD must be GET, POST, PUT, PATCH, DELETE or HEAD, got %q", pos[0])}
	}
	path := pos[1]
	if !strings.HasPrefix(path, "/") {
		return nil, usageErr{fmt.Errorf("PATH must start with /, got %q (the server comes from --server)", path)}
	}
	var body []byte
	if len(pos) == 3 {
		body = []byte(pos[2])
		if name, ok := strings.CutPrefix(pos[2], "@"); ok {
			b, err := os.ReadFile(name)
			if err != nil {
				return nil, fmt.Errorf("read the body: %w", err)
			}
			body = b
		}
	}
	id, secret, err := f.credentials()
	if err != nil {
		return nil, err
	}
	return &signedRequest{method: method, path: path, body: body, headers: sign.Headers(id, secret, method, path, body, now)}, nil
}

// headerOrder lists the signature headers in the order they are printed.
var headerOrder = []string{sign.HeaderKey, sign.HeaderTimestamp, sign.HeaderNonce, sign.HeaderSignature}

// callCmd is "etaxd call METHOD PATH [BODY]".
func callCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	const name = "call"
	var f signFlags
	var raw bool
	return runSubcommand(name, " METHOD PATH [BODY]",
		"Send a signed request to etaxd's client API and print the status and the answer, e.g.\n"+
			"  etaxd call --demo GET '/api/v1/accounts?tax_no=91110000000000019B'\n"+
			"  etaxd call --demo POST /api/v1/sessions '{\"tax_no\":\"…\",\"business\":\"issue\",\"action\":\"login\"}'\n"+
			"BODY is sent as given (@FILE: the file's content). Exit 0 on a 2xx answer, 1 otherwise.",
		2, 3, args, stderr,
		func(fs *flag.FlagSet) {
			f.bind(fs)
			fs.BoolVar(&raw, "raw", false, "print the answer as it came, without indenting JSON")
		},
		func(pos []string) int {
			sr, err := newSignedRequest(&f, pos, time.Now())
			if err != nil {
				return requestProblem(stderr, name, err)
			}
			c, err := f.client()
			if err != nil {
				return usageError(stderr, name, "%v", err)
			}
			ctx, cancel := context.WithTimeout(ctx, f.timeout)
			defer cancel()
			var rd io.Reader
			if sr.body != nil {
				rd = bytes.NewReader(sr.body)
			}
			req, err := http.NewRequestWithContext(ctx, sr.method, c.base+sr.path, rd)
			if err != nil {
				return usageError(stderr, name, "%v", err)
			}
			for k, v := range sr.headers {
				req.Header.Set(k, v)
			}
			if sr.body != nil {
				req.Header.Set("Content-Type", "application/json")
			}
			if f.idem != "" {
				req.Header.Set(sign.HeaderIdem, f.idem)
			}
			resp, b, err := c.send(req)
			if err != nil {
				return failure(stderr, name, err)
			}
			fmt.Fprintf(stdout, "HTTP %s\n", resp.Status)
			if !raw && json.Valid(b) {
				var out bytes.Buffer
				if json.Indent(&out, b, "", "  ") == nil {
					b = out.Bytes()
				}
			}
			if len(b) > 0 {
				fmt.Fprintf(stdout, "%s\n", bytes.TrimRight(b, "\n"))
			}
			if resp.StatusCode < 200 || resp.StatusCode > 299 {
				return exitError
			}
			return exitOK
		})
}

// signCmd is "etaxd sign METHOD PATH [BODY]".
func signCmd(_ context.Context, args []string, stdout, stderr io.Writer) int {
	const name = "sign"
	var f signFlags
	var curl bool
	return runSubcommand(name, " METHOD PATH [BODY]",
		fmt.Sprintf("Print the four headers that sign a client-API request made now (valid %v, once: the nonce),\n"+
			"or with --curl a ready-to-paste curl command. BODY must be sent byte for byte as given (@FILE: the file's content).",
			sign.Skew),
		2, 3, args, stderr,
		func(fs *flag.FlagSet) {
			f.bind(fs)
			fs.BoolVar(&curl, "curl", false, "print a curl command instead of the headers")
		},
		func(pos []string) int {
			sr, err := newSignedRequest(&f, pos, time.Now())
			if err != nil {
				return requestProblem(stderr, name, err)
			}
			if !curl {
				for _, h := range headerOrder {
					fmt.Fprintf(stdout, "%s: %s\n", h, sr.headers[h])
				}
				if f.idem != "" {
					fmt.Fprintf(stdout, "%s: %s\n", sign.HeaderIdem, f.idem)
				}
				return exitOK
			}
			c, err := f.client()
			if err != nil {
				return usageError(stderr, name, "%v", err)
			}
			fmt.Fprintln(stdout, curlLine(c.base, sr, f.idem))
			return exitOK
		})
}

// curlLine is a curl command that sends sr to base, quoted for a POSIX
// shell.
func curlLine(base string, sr *signedRequest, idem string) string {
	parts := []string{"curl", "-sS", "-X", sr.method}
	for _, h := range headerOrder {
		parts = append(parts, "-H", shellQuote(h+": "+sr.headers[h]))
	}
	if idem != "" {
		parts = append(parts, "-H", shellQuote(sign.HeaderIdem+": "+idem))
	}
	if sr.body != nil {
		// --data-binary sends the bytes as they are: -d would strip
		// newlines, and the signature covers every byte.
		parts = append(parts, "-H", shellQuote("Content-Type: application/json"), "--data-binary", shellQuote(string(sr.body)))
	}
	return strings.Join(append(parts, shellQuote(base+sr.path)), " ")
}

// shellQuote quotes s for a POSIX shell: in single quotes, each single
// quote inside closing the quotes, escaped with a backslash, and reopening
// them.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
