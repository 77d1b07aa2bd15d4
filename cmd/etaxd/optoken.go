package main

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// The operator token file: outside dev mode /ops and /metrics always want a
// bearer token. When none is configured, the first start creates one in
// <data>/operator.token (mode 0600) and later starts reuse it; the operator
// commands read it from there as they read the configuration. The token
// itself is never logged or printed.

// errInsecureTokenFile is an operator token file others may read, or one
// that holds no usable token.
var errInsecureTokenFile = errors.New("unusable operator token file")

// operatorTokenBytes is the randomness of a created token (256 bits).
const operatorTokenBytes = 32

// operatorToken returns the token of the file at path, creating the file
// with a fresh token when it does not exist.
func operatorToken(path string, log *slog.Logger) (string, error) {
	tok, err := readOperatorToken(path)
	if err == nil {
		log.Info("operator token read from its file; /ops and /metrics want it as Authorization: Bearer", "path", path)
		return tok, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	tok, err = createOperatorToken(path)
	if errors.Is(err, fs.ErrExist) { // created meanwhile
		return readOperatorToken(path)
	}
	if err != nil {
		return "", err
	}
	log.Warn("created an operator token file (mode 0600): /ops and /metrics want its token as Authorization: Bearer; "+
		"etaxd status, tenant, apikey and audit read it from the data directory", "path", path)
	return tok, nil
}

// readOperatorToken reads the token of the file at path: a regular file
// only its owner may read, holding one token line. A missing file is an
// error wrapping fs.ErrNotExist.
func readOperatorToken(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", err
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("%w: %s is not a regular file", errInsecureTokenFile, path)
	}
	// Windows has no such mode bits; its ACLs are the operator's to set.
	if perm := fi.Mode().Perm(); runtime.GOOS != "windows" && perm&0o077 != 0 {
		return "", fmt.Errorf("%w: %s has mode %04o, group or others may read it (chmod 600 %s)", errInsecureTokenFile, path, perm, path)
	}
	b, err := io.ReadAll(io.LimitReader(f, 4096))
	if err != nil {
		return "", err
	}
	tok := strings.TrimSpace(string(b))
	if len(tok) < 16 || len(tok) > 512 || strings.ContainsFunc(tok, func(r rune) bool { return r <= ' ' || r > '~' }) {
		// The content may be a secret: the error never quotes it.
		return "", fmt.Errorf("%w: %s must hold one token of 16 to 512 printable characters", errInsecureTokenFile, path)
	}
	return tok, nil
}

// createOperatorToken writes a fresh token to a new file at path (mode
// 0600, fsynced); it fails with an error wrapping fs.ErrExist if the file
// exists. The directory is not fsynced: a file lost in a crash is made
// again at the next start, and the operator commands read the new one.
func createOperatorToken(path string) (string, error) {
	b := make([]byte, operatorTokenBytes)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	tok := base64.RawURLEncoding.EncodeToString(b)
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", err
	}
	_, err = f.WriteString(tok + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(path)
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	return tok, nil
}
