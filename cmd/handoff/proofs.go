package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/handoff-dev/handoff/proof"
)

// proofCommand runs "handoff proof verify FILE --jwks FILE|URL": it checks
// proofs of delivery offline against a published key set. FILE ("-" for
// standard input) holds a compact JWS, or JSON with proofs in "proof"
// members: the answer of GET /v1/shipments/{id}/proof or a Delivered
// webhook's body. It fails when any proof does not verify.
func proofCommand(ctx context.Context, args []string, stdout, stderr io.Writer, stdin io.Reader) error {
	if len(args) == 0 || args[0] != "verify" {
		fmt.Fprint(stderr, usage)
		return errUsage
	}
	fs := flag.NewFlagSet("proof verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	jwksFrom := fs.String("jwks", "", "the server's public keys: a file, or the URL of its /.well-known/jwks.json")
	// Flags may come after the file, as people type them.
	var files []string
	rest := args[1:]
	for {
		if err := fs.Parse(rest); err != nil {
			return errUsage
		}
		if fs.NArg() == 0 {
			break
		}
		files = append(files, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	if len(files) != 1 || *jwksFrom == "" {
		fmt.Fprintln(stderr, "usage: handoff proof verify FILE --jwks FILE|URL")
		return errUsage
	}
	keys, err := readJWKS(ctx, *jwksFrom)
	if err != nil {
		return err
	}
	var data []byte
	if files[0] == "-" {
		data, err = io.ReadAll(io.LimitReader(stdin, 16<<20))
	} else {
		data, err = os.ReadFile(files[0])
	}
	if err != nil {
		return err
	}
	tokens := proofTokens(data)
	if len(tokens) == 0 {
		return fmt.Errorf("%s holds no proof of delivery", files[0])
	}
	bad := 0
	for _, tok := range tokens {
		rec, kid, err := proof.Verify(tok, keys)
		if err != nil {
			bad++
			fmt.Fprintf(stdout, "NOT VERIFIED: %v\n", err)
			continue
		}
		fmt.Fprintf(stdout, "verified: signed by key %s\n", kid)
		for _, f := range proof.Facts(rec) {
			fmt.Fprintf(stdout, "  %-20s %s\n", f.Label, f.Value)
		}
	}
	if bad > 0 {
		return fmt.Errorf("%d of %d proofs did not verify", bad, len(tokens))
	}
	return nil
}

// proofTokens returns the proofs in data: the compact JWS itself, or every
// string member named "proof" of a JSON document.
func proofTokens(data []byte) []string {
	var doc any
	if err := json.Unmarshal(data, &doc); err != nil {
		if s := strings.TrimSpace(string(data)); s != "" {
			return []string{s}
		}
		return nil
	}
	var out []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if s, ok := x.(string); ok && k == "proof" {
					out = append(out, s)
				} else {
					walk(x)
				}
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		case string:
			if len(out) == 0 && strings.Count(v, ".") == 2 {
				out = append(out, v) // a JSON string holding the JWS
			}
		}
	}
	walk(doc)
	return out
}

// readJWKS reads a key set from a file or an http(s) URL.
func readJWKS(ctx context.Context, from string) (proof.JWKS, error) {
	var set proof.JWKS
	var data []byte
	var err error
	if strings.HasPrefix(from, "https://") || strings.HasPrefix(from, "http://") {
		ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		req, rerr := http.NewRequestWithContext(ctx, http.MethodGet, from, nil)
		if rerr != nil {
			return set, rerr
		}
		res, rerr := http.DefaultClient.Do(req)
		if rerr != nil {
			return set, fmt.Errorf("key set: %w", rerr)
		}
		defer res.Body.Close()
		if res.StatusCode != http.StatusOK {
			return set, fmt.Errorf("key set: %s answered %s", from, res.Status)
		}
		data, err = io.ReadAll(io.LimitReader(res.Body, 1<<20))
	} else {
		data, err = os.ReadFile(from)
	}
	if err != nil {
		return set, fmt.Errorf("key set: %w", err)
	}
	if err := json.Unmarshal(data, &set); err != nil {
		return set, fmt.Errorf("key set: %s is not a JWK Set: %w", from, err)
	}
	if len(set.Keys) == 0 {
		return set, errors.New("key set: no keys")
	}
	return set, nil
}
