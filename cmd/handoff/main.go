// Command handoff runs the handoff server: secure last-mile delivery with
// passcodes, tamper-evident bags, photo on delivery and in-garage delivery.
//
//	handoff serve [--demo] [--addr 127.0.0.1:8080] [--data-dir ./handoff-data] [--db postgres://…]
//	handoff keys rotate [--data-dir …]
//	handoff keys init --i-know-existing-data-is-lost [--data-dir …] [--db …]
//	handoff proof verify FILE --jwks FILE|URL
//	handoff audit verify [--db …] | audit verify --file log.jsonl
//	handoff audit export --from 2026-11-01 --to 2026-12-01 [--out log.jsonl] [--db …]
//	handoff loadtest --url http://127.0.0.1:8080 --admin-token … [--parcels 2000]
//
// Every flag has an environment fallback (HANDOFF_ADDR, HANDOFF_DATA_DIR,
// HANDOFF_DB); the operator's token is HANDOFF_ADMIN_TOKEN and shared secret
// keys for several nodes are HANDOFF_SECRET_KEYS.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	_ "time/tzdata" // service dates need the marketplaces' zones on any machine
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	// The first signal starts a graceful drain; from then on the default
	// action is back, so a second one ends the process at once.
	go func() { <-ctx.Done(); stop() }()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv); err != nil {
		if !errors.Is(err, errUsage) {
			fmt.Fprintln(os.Stderr, "handoff:", err)
		}
		os.Exit(2)
	}
}

var errUsage = errors.New("usage")

const usage = `handoff — secure last-mile delivery server

Usage:
  handoff serve [flags]        start the server (add --demo to seed demo data)
  handoff keys rotate [flags]  add a new secret key and make it active
  handoff keys init --i-know-existing-data-is-lost [flags]
                               make this node's keys the only ones the database
                               depends on, after keys were lost
  handoff proof verify FILE --jwks FILE|URL
                               verify proofs of delivery offline against the
                               server's published keys (/.well-known/jwks.json)
  handoff audit verify [flags] walk the tamper-evident audit log and name the
                               first broken entry of each chain (--file: an export)
  handoff audit export --from T --to T [--out FILE]
                               write the entries of [from, to) as JSON lines
  handoff loadtest [flags]     drive a running server through a delivery day
                               and report what each request cost it
  handoff help                 show this

Run "handoff serve -h" for the flags.
`

// run dispatches a command. It is main without the process: tests call it.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errUsage
	}
	switch args[0] {
	case "serve":
		cfg, err := parseServe(args[1:], stderr, getenv)
		if err != nil {
			return err
		}
		return serve(ctx, cfg, stdout, stderr)
	case "keys":
		return keysCommand(ctx, args[1:], stdout, stderr, getenv)
	case "proof":
		return proofCommand(ctx, args[1:], stdout, stderr, os.Stdin)
	case "audit":
		return auditCommand(ctx, args[1:], stdout, stderr, getenv)
	case "loadtest":
		return loadtestCommand(ctx, args[1:], stdout, stderr, getenv)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprintf(stderr, "unknown command %q\n\n%s", args[0], usage)
	return errUsage
}
