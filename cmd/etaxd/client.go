package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/etaxd/etaxd/config"
)

// The client subcommands (status, tenant, apikey, audit, call, sign) talk
// to a running etaxd over HTTP. They find it the way the server was
// configured: --server, else http://<listen> from the same sources serve
// reads (--config or ETAXD_CONFIG, then ETAXD_LISTEN); and the operator
// token from --token, else ETAXD_OPERATOR_TOKEN (or the config file), else
// the operator.token file serve created in the data directory (--data,
// else as serve finds it).

// clientTimeout bounds one request of a client subcommand.
const clientTimeout = 90 * time.Second

// clientFlags are the flags every client subcommand takes.
type clientFlags struct {
	server  string
	token   string
	config  string
	data    string
	timeout time.Duration
}

func (f *clientFlags) bind(fs *flag.FlagSet) {
	fs.StringVar(&f.server, "server", "", "etaxd's `URL` (default http://<listen> from the configuration: --config, ETAXD_CONFIG, ETAXD_LISTEN)")
	fs.StringVar(&f.token, "token", "", "operator `TOKEN` for /ops (default ETAXD_OPERATOR_TOKEN or the config file; prefer those, flags show in ps)")
	fs.StringVar(&f.config, "config", "", "the server's JSON config `FILE`, to find its address and token (default ETAXD_CONFIG)")
	fs.StringVar(&f.data, "data", "", "the server's data `DIR`, holding operator.token and demo.json (default as serve: --config, ETAXD_DATA, ./data)")
	fs.DurationVar(&f.timeout, "timeout", clientTimeout, "bound on the request")
}

// localOptions returns the server's options as far as the config file (f's
// or ETAXD_CONFIG) and the environment give them. Problems a running
// server would have refused are not the client's: they are ignored, except
// a config file named on the command line that cannot be read.
func (f *clientFlags) localOptions() (config.Options, error) {
	var args []string
	if f.config != "" {
		args = []string{"--config", f.config}
	}
	if f.data != "" {
		args = append(args, "--data", f.data)
	}
	o, err := config.Load(args, nil)
	if f.config != "" {
		for _, p := range config.Problems(err) {
			var se *config.SourceError
			if errors.As(p, &se) && se.Key == "" {
				return o, p
			}
		}
	}
	return o, nil
}

// errBadServer is a --server value that is not an http(s) URL: a usage
// error.
var errBadServer = errors.New("--server")

// client returns the HTTP client of the server f names.
func (f *clientFlags) client() (*client, error) {
	o, err := f.localOptions()
	if err != nil {
		return nil, err
	}
	base := f.server
	if base == "" {
		base = o.LocalURL()
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%w: %q is not an http(s) URL", errBadServer, base)
	}
	token := f.token
	if token == "" {
		token = o.OperatorToken
	}
	if token == "" {
		// The token a production etaxd created for itself; none in dev
		// mode, whose ops answer this machine without one.
		switch t, err := readOperatorToken(o.OperatorTokenPath()); {
		case err == nil:
			token = t
		case !errors.Is(err, fs.ErrNotExist):
			return nil, fmt.Errorf("operator token: %w", err)
		}
	}
	return &client{base: strings.TrimRight(base, "/"), token: token, http: &http.Client{Timeout: f.timeout}}, nil
}

// client is an HTTP client of one etaxd.
type client struct {
	base  string
	token string
	http  *http.Client
}

// apiError is an error answer of etaxd: {"error":{...}}, or whatever else a
// failed request returned.
type apiError struct {
	Status    int
	Code      string `json:"code"`
	Message   string `json:"message"`
	MessageEN string `json:"message_en"`
	Body      string
}

func (e *apiError) Error() string {
	if e.Code != "" {
		return fmt.Sprintf("%s (HTTP %d): %s (%s)", e.Code, e.Status, e.MessageEN, e.Message)
	}
	body := strings.TrimSpace(e.Body)
	if len(body) > 200 {
		body = body[:200] + "…"
	}
	if body == "" {
		return fmt.Sprintf("HTTP %d %s", e.Status, http.StatusText(e.Status))
	}
	return fmt.Sprintf("HTTP %d %s: %s", e.Status, http.StatusText(e.Status), body)
}

// do sends a request to the ops API with the operator token, body as JSON
// when it is not nil, and returns the answer of a 2xx; anything else is an
// *apiError.
func (c *client) do(ctx context.Context, method, path string, body any) (*http.Response, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, nil, err
	}
	if body != nil || method == http.MethodPost || method == http.MethodPut || method == http.MethodPatch {
		// Even without a body: without a token, etaxd's ops take only
		// JSON writes, which no web page can send to them.
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, b, err := c.send(req)
	if err != nil {
		return nil, nil, err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp, b, errorOf(resp.StatusCode, b)
	}
	return resp, b, nil
}

// send sends req and reads the whole answer.
func (c *client) send(req *http.Request) (*http.Response, []byte, error) {
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("%s %s: %w (is etaxd running there? see --server)", req.Method, req.URL.Redacted(), unwrapURLError(err))
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, nil, fmt.Errorf("%s %s: read the answer: %w", req.Method, req.URL.Redacted(), err)
	}
	return resp, b, nil
}

func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// errorOf reads a failed answer.
func errorOf(status int, body []byte) *apiError {
	e := &apiError{Status: status, Body: string(body)}
	var env struct {
		Error *apiError `json:"error"`
	}
	if json.Unmarshal(body, &env) == nil && env.Error != nil && env.Error.Code != "" {
		env.Error.Status, env.Error.Body = status, e.Body
		return env.Error
	}
	return e
}

// getJSON GETs path from the ops API into v.
func (c *client) getJSON(ctx context.Context, path string, v any) error {
	_, b, err := c.do(ctx, http.MethodGet, path, nil)
	if err != nil {
		return err
	}
	return decodeAnswer(b, v)
}

func decodeAnswer(b []byte, v any) error {
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("unexpected answer (%v): %.200s", err, b)
	}
	return nil
}

// parseArgs parses fs from args, letting flags and positional arguments
// mix ("call POST /x --demo" as well as "call --demo POST /x"); everything
// after "--" is positional. It returns the positional arguments.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if i := len(args) - len(rest); i > 0 && args[i-1] == "--" {
			return append(pos, rest...), nil
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
}

// runSubcommand parses a subcommand's flags and positional arguments
// (between minArgs and maxArgs of them) and runs it. Usage problems exit 2.
func runSubcommand(name, argsUsage, summary string, minArgs, maxArgs int, args []string, stderr io.Writer,
	bind func(fs *flag.FlagSet), run func(pos []string) int) int {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: etaxd %s [flags]%s\n\n%s\n\nFlags:\n", name, argsUsage, summary)
		fs.PrintDefaults()
	}
	bind(fs)
	pos, err := parseArgs(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if len(pos) < minArgs || len(pos) > maxArgs {
		fmt.Fprintf(stderr, "etaxd %s: want %s, got %d argument%s\n", name, argCount(minArgs, maxArgs), len(pos), plural(len(pos)))
		fs.Usage()
		return exitUsage
	}
	return run(pos)
}

func argCount(min, max int) string {
	switch {
	case min == max && min == 0:
		return "no arguments"
	case min == max:
		return fmt.Sprintf("%d argument%s", min, plural(min))
	}
	return fmt.Sprintf("%d to %d arguments", min, max)
}

// usageError reports a missing or bad flag and exits 2.
func usageError(stderr io.Writer, name, format string, args ...any) int {
	fmt.Fprintf(stderr, "etaxd %s: %s (see etaxd %s -h)\n", name, fmt.Sprintf(format, args...), name)
	return exitUsage
}

// failure reports a failed command and exits 1.
func failure(stderr io.Writer, name string, err error) int {
	fmt.Fprintf(stderr, "etaxd %s: %v\n", name, err)
	return exitError
}
