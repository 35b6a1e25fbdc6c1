// Drives Examples/readers/go for Tests/python/test_readers.py. Prints one JSON line per token
// returned, with its SHA-256 instead of the token.
//
//	go_reader_check follow MS PATH...   read each path in turn for MS milliseconds
//	go_reader_check once WAIT_MS PATH   one Token call with that wait; an error as JSON
package main

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"mrtokenfile"
)

func describe(path string, token mrtokenfile.Token) map[string]any {
	parts := strings.Split(token.Token, ".")
	header, _ := base64.RawURLEncoding.DecodeString(parts[0])
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	signature, _ := base64.RawURLEncoding.DecodeString(parts[2])
	var headerFields, claims map[string]any
	_ = json.Unmarshal(header, &headerFields)
	_ = json.Unmarshal(payload, &claims)
	digest := sha256.Sum256([]byte(token.Token))
	return map[string]any{
		"path": path, "sha256": hex.EncodeToString(digest[:]),
		"expiresOnTimestamp": token.ExpiresOn.UnixMilli(), "returnedAt": time.Now().UnixMilli(),
		"exp": claims["exp"], "aid": claims["aid"], "alg": headerFields["alg"], "signatureBytes": len(signature),
	}
}

func main() {
	if len(os.Args) < 4 {
		fmt.Fprintln(os.Stderr, "usage: go_reader_check follow MS PATH... | once WAIT_MS PATH | parse 0 PATH...")
		os.Exit(2)
	}
	ms, _ := strconv.Atoi(os.Args[2])
	out := json.NewEncoder(os.Stdout)
	switch os.Args[1] {
	case "follow":
		var readers []*mrtokenfile.TokenFile
		for _, path := range os.Args[3:] {
			readers = append(readers, &mrtokenfile.TokenFile{Path: path, Wait: 30 * time.Second, MinValidity: 200 * time.Millisecond})
		}
		end := time.Now().Add(time.Duration(ms) * time.Millisecond)
		for time.Now().Before(end) {
			for _, reader := range readers {
				token, err := reader.Token(context.Background())
				if err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(1)
				}
				_ = out.Encode(describe(reader.Path, token))
			}
		}
	case "parse":
		// Parse of each file's text: its token's SHA-256, or null.
		for _, path := range os.Args[3:] {
			text, err := os.ReadFile(path)
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
			var digest any
			if token, ok := mrtokenfile.Parse(string(text)); ok {
				digest = fmt.Sprintf("%x", sha256.Sum256([]byte(token)))
			}
			_ = out.Encode(map[string]any{"path": path, "sha256": digest})
		}
	case "once":
		reader := &mrtokenfile.TokenFile{Path: os.Args[3], Wait: time.Duration(ms) * time.Millisecond, MinValidity: 100 * time.Millisecond}
		token, err := reader.Token(context.Background())
		if err != nil {
			name := "other"
			if errors.Is(err, mrtokenfile.ErrNoToken) {
				name = "TokenFileError"
			}
			_ = out.Encode(map[string]any{"error": name, "message": err.Error()})
			return
		}
		_ = out.Encode(describe(reader.Path, token))
	}
}
