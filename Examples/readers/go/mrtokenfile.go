// Package mrtokenfile reads the Mixed Reality access token that mr-token-sidecar keeps fresh in a
// file.
//
// Copy this file into your module; it needs nothing but the standard library (Go 1.19 or later).
//
//	tokens := mrtokenfile.New("/var/run/mixedreality/token")
//	token, err := tokens.Token(ctx) // waits for the first token, until ctx or tokens.Wait ends
//
// The rules (docs/consuming-tokens.md):
//   - At start the file may not exist yet: Token waits for it, up to Wait (or the context's
//     deadline), then fails with an error naming the file.
//   - Call Token each time you need the token: it re-reads the file when it changed (one stat per
//     call) and keeps nothing past the token's expiry. It never returns a token that expires within
//     MinValidity, nor a partial one.
//   - It reads only a regular file of at most 1 MiB, opened without blocking: a FIFO or a device
//     that another container put at the path, or a huge file, is no token (it cannot block or
//     exhaust the application).
//   - The file holds a Mixed Reality token, not an Entra ID token: hand it to a Mixed Reality
//     client as an access token (azcore.AccessToken{Token, ExpiresOn}), never as a TokenCredential,
//     which the Azure SDKs would exchange at the STS again.
package mrtokenfile

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"
)

const (
	envName  = "MIXED_REALITY_ACCESS_TOKEN="
	maxBytes = 1 << 20
)

// ErrNoToken is wrapped by the error Token returns when no valid token came within the wait.
var ErrNoToken = errors.New("no valid Mixed Reality token")

// Token is a Mixed Reality access token and its expiry.
type Token struct {
	Token     string
	ExpiresOn time.Time
}

// TokenFile is the sidecar's file, in any of its formats (token, json, env; told apart by
// content). It is safe for concurrent use.
type TokenFile struct {
	Path        string
	Wait        time.Duration // how long Token waits for a valid token (default 60 s)
	MinValidity time.Duration // the least validity of a token returned (default 60 s)

	mu       sync.Mutex
	identity [4]int64
	cached   *Token
	problem  string
}

// New returns the file at path with the default wait and minimum validity.
func New(path string) *TokenFile {
	return &TokenFile{Path: path, Wait: time.Minute, MinValidity: time.Minute}
}

// Token returns the file's token, valid for at least MinValidity.
func (f *TokenFile) Token(ctx context.Context) (Token, error) {
	ctx, cancel := context.WithTimeout(ctx, f.Wait)
	defer cancel()
	delay := 50 * time.Millisecond
	for {
		if token, ok := f.current(); ok {
			return token, nil
		}
		select {
		case <-ctx.Done():
			f.mu.Lock()
			problem := f.problem
			f.mu.Unlock()
			return Token{}, fmt.Errorf(
				"%w valid for %v in %s after %v (%s): is mr-token-sidecar running? Its /status and logs say why not",
				ErrNoToken, f.MinValidity, f.Path, f.Wait, problem)
		case <-time.After(delay):
		}
		if delay *= 2; delay > time.Second {
			delay = time.Second
		}
	}
}

func (f *TokenFile) current() (Token, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	info, err := os.Stat(f.Path)
	if err != nil {
		f.problem = "no such file"
		return Token{}, false
	}
	identity := [4]int64{0, 0, info.Size(), info.ModTime().UnixNano()}
	if stat, ok := info.Sys().(*syscall.Stat_t); ok {
		identity[0], identity[1] = int64(stat.Dev), int64(stat.Ino)
	}
	if f.cached == nil || f.identity != identity {
		token, ok := f.read()
		if !ok {
			return Token{}, false
		}
		f.cached, f.identity = &token, identity
	}
	if time.Until(f.cached.ExpiresOn) < f.MinValidity {
		f.problem = "the token in it expires too soon"
		return Token{}, false
	}
	return *f.cached, true
}

// read opens the file without blocking (a FIFO waits for a writer otherwise) and reads it when it
// is a regular file of at most maxBytes.
func (f *TokenFile) read() (Token, bool) {
	file, err := os.OpenFile(f.Path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		f.problem = "cannot be opened"
		return Token{}, false
	}
	defer file.Close()
	if info, err := file.Stat(); err != nil || !info.Mode().IsRegular() {
		f.problem = "not a regular file"
		return Token{}, false
	}
	data, err := io.ReadAll(io.LimitReader(file, maxBytes+1))
	if err != nil {
		f.problem = "cannot be read"
		return Token{}, false
	}
	if len(data) > maxBytes {
		f.problem = "larger than 1 MiB"
		return Token{}, false
	}
	token, ok := Parse(string(data))
	if !ok {
		f.problem = "no whole token in it"
		return Token{}, false
	}
	expiresOn, ok := JWTExpiry(token)
	if !ok {
		f.problem = "no whole token in it"
	}
	return Token{Token: token, ExpiresOn: expiresOn}, ok
}

// Parse returns the token in a file's text, whatever its format.
func Parse(text string) (string, bool) {
	text = strings.TrimSpace(text)
	var token string
	switch {
	case strings.HasPrefix(text, "{"):
		var file struct {
			AccessToken string `json:"accessToken"`
		}
		if json.Unmarshal([]byte(text), &file) != nil {
			return "", false
		}
		token = file.AccessToken
	case strings.Contains(text, envName):
		for _, line := range strings.Split(text, "\n") {
			if strings.HasPrefix(line, envName) {
				token = strings.TrimPrefix(line, envName)
				if len(token) >= 2 && token[0] == '\'' && token[len(token)-1] == '\'' {
					token = strings.ReplaceAll(token[1:len(token)-1], `'\''`, `'`)
				}
				break
			}
		}
	default:
		token = text
	}
	if strings.Count(token, ".") != 2 || strings.ContainsAny(token, " \t\r\n") {
		return "", false
	}
	return token, true
}

// JWTExpiry returns the exp claim of a whole JWT.
func JWTExpiry(token string) (time.Time, bool) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 || parts[0] == "" || parts[2] == "" {
		return time.Time{}, false
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return time.Time{}, false
	}
	var claims struct {
		Exp *float64 `json:"exp"`
	}
	if json.Unmarshal(payload, &claims) != nil || claims.Exp == nil {
		return time.Time{}, false
	}
	return time.Unix(int64(*claims.Exp), 0), true
}
