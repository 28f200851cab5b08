package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/authenik8/authenik8-go/core"
)

// propagation measures how long a revocation takes to reach another
// process: this process opens a session, the peer process (this binary with
// -peer) verifies its access token — now cached as alive there — and polls
// Verify; this process logs the session out and the peer reports when its
// Verify first answered token_revoked. Both read the same wall clock.
func propagation(a *core.Auth, redisURL, prefix string, trials int) ([]time.Duration, error) {
	cmd := exec.Command(os.Args[0], "-peer", "-redis", redisURL, "-prefix", prefix)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	outPipe, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	defer func() { in.Close(); cmd.Wait() }()
	out := bufio.NewReader(outPipe)
	readLine := func() (string, error) {
		s, err := out.ReadString('\n')
		return strings.TrimSpace(s), err
	}
	ctx := context.Background()
	var lat []time.Duration
	for i := range trials {
		p, err := a.IssueSession(ctx, core.User{ID: "prop" + strconv.Itoa(i%64)}, core.Client{})
		if err != nil {
			return nil, err
		}
		fmt.Fprintln(in, p.AccessToken)
		if s, err := readLine(); err != nil || s != "ready" {
			return nil, fmt.Errorf("peer: %q, %v", s, err)
		}
		t0 := time.Now()
		if err := a.Logout(ctx, p.SessionID); err != nil {
			return nil, err
		}
		s, err := readLine()
		if err != nil {
			return nil, err
		}
		t1, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("peer: %q", s)
		}
		lat = append(lat, time.Unix(0, t1).Sub(t0))
	}
	return lat, nil
}

// runPeer is the other process: for each token read from stdin, verify it
// (caching the session as alive), say "ready", then verify until the
// revocation shows and print when, in Unix nanoseconds.
func runPeer(a *core.Auth) error {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 16<<10), 16<<10)
	ctx := context.Background()
	for in.Scan() {
		tok := in.Text()
		if _, err := a.Verify(ctx, tok); err != nil {
			return fmt.Errorf("peer: first Verify: %w", err)
		}
		fmt.Println("ready")
		deadline := time.Now().Add(5 * time.Second)
		for {
			_, err := a.Verify(ctx, tok)
			if errors.Is(err, core.ErrTokenRevoked) {
				fmt.Println(time.Now().UnixNano())
				break
			}
			if err != nil {
				return fmt.Errorf("peer: Verify: %w", err)
			}
			if time.Now().After(deadline) {
				return errors.New("peer: the revocation did not arrive within 5s")
			}
		}
	}
	if err := in.Err(); err != nil && err != io.EOF {
		return err
	}
	return nil
}
