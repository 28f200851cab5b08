package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/authenik8/authenik8-go/core"
)

// Concurrent callers per refresh race ("under any number of
// simultaneous refreshes of one token, exactly one succeeds").
const racers = 200

// RunConcurrency checks the session guarantees under simultaneous callers.
// When the harness has peers, the callers are spread over several independent
// clients, as over several processes.
func RunConcurrency(t *testing.T, h Harness) {
	if h.NewStore == nil {
		t.Fatal("storetest: Harness.NewStore is required")
	}
	t.Run("ConcurrentRefreshOneWinner", func(t *testing.T) { testConcurrentRefresh(t, h) })
	t.Run("LogoutRacingRefresh", func(t *testing.T) { testLogoutRacingRefresh(t, h) })
	t.Run("ConcurrentSessionsOfOneUser", func(t *testing.T) { testConcurrentSessions(t, h) })
	t.Run("ConcurrentLoginsKeepTheBound", func(t *testing.T) { testConcurrentBound(t, h) })
	t.Run("IndependentChainsInParallel", func(t *testing.T) { testIndependentChains(t, h) })
}

// clients returns Auths on s and, when the harness can, on three peers.
func clients(t *testing.T, h Harness, s core.Store) []*core.Auth {
	auths := []*core.Auth{NewAuth(t, s, nil)}
	if h.NewPeer != nil {
		for range 3 {
			auths = append(auths, NewAuth(t, h.NewPeer(t, s), nil))
		}
	}
	return auths
}

// race runs n calls of f at once (released together) and waits for them.
func race(n int, f func(i int)) {
	var start, done sync.WaitGroup
	start.Add(1)
	done.Add(n)
	for i := range n {
		go func() {
			defer done.Done()
			start.Wait()
			f(i)
		}()
	}
	start.Done()
	done.Wait()
}

func testConcurrentRefresh(t *testing.T, h Harness) {
	auths := clients(t, h, h.NewStore(t))
	for round := range 5 {
		p := login(t, auths[0], newUser())
		var (
			mu       sync.Mutex
			winners  []*core.TokenPair
			conflict int
			other    []error
		)
		race(racers, func(i int) {
			pair, err := auths[i%len(auths)].Refresh(ctx(t), p.RefreshToken)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				winners = append(winners, pair)
			case errors.Is(err, core.ErrRefreshConflict):
				conflict++
			default:
				other = append(other, err)
			}
		})
		if len(winners) != 1 || conflict != racers-1 || len(other) != 0 {
			t.Fatalf("round %d over %d clients: %d succeeded, %d refresh_conflict, other errors %v; want 1, %d, none",
				round, len(auths), len(winners), conflict, other, racers-1)
		}
		// The winner's tokens work; the session was not revoked.
		verify(t, auths[0], winners[0].AccessToken)
		refresh(t, auths[len(auths)-1], winners[0].RefreshToken)
	}
}

// testLogoutRacingRefresh: whichever of logout and refresh wins, no live
// token is left once both returned.
func testLogoutRacingRefresh(t *testing.T, h Harness) {
	auths := clients(t, h, h.NewStore(t))
	a, b := auths[0], auths[len(auths)-1]
	refreshedFirst := 0
	for iter := range 40 {
		p := login(t, a, newUser())
		var (
			pair       *core.TokenPair
			refreshErr error
			logoutErr  error
		)
		race(2, func(i int) {
			if i == iter%2 { // alternate which call starts first
				pair, refreshErr = b.Refresh(ctx(t), p.RefreshToken)
			} else {
				logoutErr = a.Logout(ctx(t), p.SessionID)
			}
		})
		if logoutErr != nil {
			t.Fatalf("Logout: %v", logoutErr)
		}
		// The revoking client rejects at once; peers follow within the
		// invalidation latency (RevocationReachesPeer measures it).
		wantRevoked(t, a, p.AccessToken)
		wantRefreshFails(t, a, p.RefreshToken, core.ErrInvalidRefreshToken)
		if refreshErr == nil {
			refreshedFirst++
			wantRevoked(t, a, pair.AccessToken)
			wantRefreshFails(t, a, pair.RefreshToken, core.ErrInvalidRefreshToken)
		} else if !errors.Is(refreshErr, core.ErrInvalidRefreshToken) {
			t.Fatalf("Refresh racing Logout: %v, want success or invalid_refresh_token", refreshErr)
		}
	}
	t.Logf("refresh won %d of 40 races against logout", refreshedFirst)
}

func testConcurrentSessions(t *testing.T, h Harness) {
	auths := clients(t, h, h.NewStore(t))
	u := newUser()
	pairs := make([]*core.TokenPair, 100)
	errs := make([]error, 100)
	race(100, func(i int) {
		pairs[i], errs[i] = auths[i%len(auths)].IssueSession(ctx(t), u, core.Client{})
	})
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("IssueSession: %v", err)
	}
	list, err := auths[0].Sessions(ctx(t), u.ID, "")
	if err != nil || len(list) != 100 {
		t.Fatalf("Sessions: %d sessions, %v; want 100", len(list), err)
	}
	seen := map[string]bool{}
	for _, s := range list {
		seen[s.ID] = true
	}
	for _, p := range pairs {
		if !seen[p.SessionID] {
			t.Fatalf("session %s missing from the list", p.SessionID)
		}
	}
	if n, err := auths[0].LogoutAll(ctx(t), u.ID); err != nil || n != 100 {
		t.Fatalf("LogoutAll: %d, %v; want 100", n, err)
	}
	for _, p := range pairs {
		wantRevoked(t, auths[0], p.AccessToken)
	}
}

// testConcurrentBound: logins racing past the per-user bound, over every
// client, leave exactly the bound, and the sessions that ended are refused.
func testConcurrentBound(t *testing.T, h Harness) {
	auths := clients(t, h, h.NewStore(t))
	const logins = core.DefaultMaxSessionsPerUser * 3 / 2
	u := newUser()
	pairs := make([]*core.TokenPair, logins)
	errs := make([]error, logins)
	race(logins, func(i int) {
		pairs[i], errs[i] = auths[i%len(auths)].IssueSession(ctx(t), u, core.Client{})
	})
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("IssueSession: %v", err)
	}
	list, err := auths[0].Sessions(ctx(t), u.ID, "")
	if err != nil || len(list) != core.DefaultMaxSessionsPerUser {
		t.Fatalf("after %d concurrent logins: %d sessions, %v; want %d", logins, len(list), err, core.DefaultMaxSessionsPerUser)
	}
	listed := map[string]bool{}
	for _, s := range list {
		listed[s.ID] = true
	}
	for _, p := range pairs {
		// auths[0] has cached none of these: it reads what the store holds.
		if _, err := auths[0].Verify(ctx(t), p.AccessToken); listed[p.SessionID] != (err == nil) {
			t.Fatalf("session %s: listed %v, Verify %v", p.SessionID, listed[p.SessionID], err)
		} else if err != nil && !errors.Is(err, core.ErrTokenRevoked) {
			t.Fatalf("Verify of an ended session: %v", err)
		}
	}
}

// testIndependentChains refreshes many sessions at once: rotations of
// different sessions never interfere.
func testIndependentChains(t *testing.T, h Harness) {
	auths := clients(t, h, h.NewStore(t))
	const chains, steps = 50, 10
	errs := make([]error, chains)
	race(chains, func(i int) {
		a := auths[i%len(auths)]
		p, err := a.IssueSession(ctx(t), newUser(), core.Client{})
		for s := 0; err == nil && s < steps; s++ {
			p, err = a.Refresh(ctx(t), p.RefreshToken)
		}
		if err == nil {
			_, err = a.Verify(ctx(t), p.AccessToken)
		}
		if err != nil {
			errs[i] = fmt.Errorf("chain %d: %w", i, err)
		}
	})
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
}
