// Command loadgen drives an example server with a mix of sessions, the
// traffic docs/grafana/render.sh records for the dashboard's screenshot:
// users register, log in (now and then with a wrong password), call the
// API with their access token, refresh (sometimes twice at once: a
// conflict; rarely replaying a spent token: reuse, which revokes the
// session), and log out one way or another; in the middle third an
// attacker tries passwords against a few accounts until they are locked
// out. Requests go to loopback only.
//
//	go run ./loadgen -base http://127.0.0.1:8080 -d 4m
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	base := flag.String("base", "http://127.0.0.1:8080", "the server (a loopback address)")
	d := flag.Duration("d", 4*time.Minute, "how long to run")
	workers := flag.Int("workers", 6, "users at the busiest")
	flag.Parse()
	u, err := url.Parse(*base)
	if err != nil || (u.Hostname() != "127.0.0.1" && u.Hostname() != "localhost" && u.Hostname() != "::1") {
		log.Fatalf("-base %s: only loopback servers are driven", *base)
	}
	ctx, cancel := context.WithTimeout(context.Background(), *d)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	for i := range *workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Users arrive over the first half, so that the rates ramp up.
			sleep(ctx, time.Duration(i)**d/time.Duration(2**workers))
			for ctx.Err() == nil {
				user(ctx, *base)
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		sleep(ctx, *d/3)
		attack(ctx, *base, start.Add(2**d/3))
	}()
	wg.Wait()
	log.Printf("loadgen: %d requests in %v", requests.Load(), time.Since(start).Round(time.Second))
}

var requests atomic.Int64

// user is one account's life: a few sessions, then it is gone.
func user(ctx context.Context, base string) {
	email := strings.ToLower(rand.Text()) + "@example.com"
	creds := fmt.Sprintf(`{"email":%q,"password":"correct horse battery"}`, email)
	if st, _ := post(ctx, base+"/auth/register", "", creds); st != 201 {
		sleep(ctx, time.Second)
		return
	}
	for range 1 + n(3) {
		if n(10) == 0 {
			post(ctx, base+"/auth/login", "", strings.Replace(creds, "correct", "wrong", 1))
		}
		st, body := post(ctx, base+"/auth/login", "", creds)
		if st != 200 {
			sleep(ctx, time.Second)
			continue
		}
		access, refresh := tokens(body)
		var spent []string // replaced refresh tokens, oldest first
		for range 2 + n(4) {
			for range 5 + n(20) {
				get(ctx, base+"/api/profile", access)
				pause(ctx)
			}
			if n(30) == 0 {
				get(ctx, base+"/api/profile", "")
				get(ctx, base+"/api/profile", "not.a.token")
			}
			switch {
			case len(spent) >= 2 && n(20) == 0:
				// A token replaced two rotations ago comes back (the one
				// just replaced would be a conflict, within the grace):
				// reuse, the session is revoked.
				post(ctx, base+"/auth/refresh", "", `{"refresh_token":"`+spent[0]+`"}`)
				get(ctx, base+"/api/profile", access)
				refresh = ""
			case n(12) == 0:
				// Two tabs refresh at once: one rotates, the other conflicts.
				var wg sync.WaitGroup
				var mu sync.Mutex
				old := refresh
				for range 2 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						if st, body := post(ctx, base+"/auth/refresh", "", `{"refresh_token":"`+old+`"}`); st == 200 {
							mu.Lock()
							access, refresh = tokens(body)
							spent = append(spent, old)
							mu.Unlock()
						}
					}()
				}
				wg.Wait()
			default:
				if st, body := post(ctx, base+"/auth/refresh", "", `{"refresh_token":"`+refresh+`"}`); st == 200 {
					spent = append(spent, refresh)
					access, refresh = tokens(body)
				}
			}
			if refresh == "" {
				break
			}
		}
		if refresh == "" {
			continue
		}
		switch r := n(10); {
		case r < 6:
			post(ctx, base+"/auth/logout", access, "")
		case r < 7:
			post(ctx, base+"/auth/logout", "", `{"refresh_token":"`+refresh+`"}`)
		case r < 8:
			post(ctx, base+"/auth/logout-all", access, "")
		} // else: the session is left to expire
	}
}

// attack tries passwords against a few accounts until until.
func attack(ctx context.Context, base string, until time.Time) {
	var victims []string
	for range 3 {
		email := strings.ToLower(rand.Text()) + "@example.com"
		post(ctx, base+"/auth/register", "", fmt.Sprintf(`{"email":%q,"password":"correct horse battery"}`, email))
		victims = append(victims, email)
	}
	for ctx.Err() == nil && time.Now().Before(until) {
		for _, v := range victims {
			post(ctx, base+"/auth/login", "", fmt.Sprintf(`{"email":%q,"password":%q}`, v, rand.Text()))
		}
		sleep(ctx, 400*time.Millisecond)
	}
}

var client = &http.Client{Timeout: 10 * time.Second}

func post(ctx context.Context, url, token, body string) (int, []byte) {
	return do(ctx, "POST", url, token, body)
}

func get(ctx context.Context, url, token string) int {
	st, _ := do(ctx, "GET", url, token, "")
	return st
}

func do(ctx context.Context, method, url, token, body string) (int, []byte) {
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader([]byte(body)))
	if err != nil {
		return 0, nil
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	requests.Add(1)
	return resp.StatusCode, b
}

func tokens(body []byte) (access, refresh string) {
	var p struct {
		Access  string `json:"access_token"`
		Refresh string `json:"refresh_token"`
	}
	json.Unmarshal(body, &p)
	return p.Access, p.Refresh
}

// n is a random number in [0, max).
func n(max int64) int {
	v, _ := rand.Int(rand.Reader, big.NewInt(max))
	return int(v.Int64())
}

// pause is a client's think time between calls.
func pause(ctx context.Context) { sleep(ctx, time.Duration(20+n(60))*time.Millisecond) }

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
