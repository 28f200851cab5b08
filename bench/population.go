package main

import (
	"bufio"
	"context"
	"fmt"
	"log"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"

	"github.com/authenik8/authenik8-go/core"
)

// The population measurement: many users' tokens instead of one. Its
// sessions are opened through the public API (Auth.IssueSession, not HTTP
// login, whose password hashing would take hours for 200,000 users), and wrk
// walks files of their access tokens. Three loads per design:
const (
	hot      = "tokens50" // 50 tokens in rotation: the caches' best case
	distinct = "distinct" // every request a token the server has not seen
	mix      = "mix"      // each token used popReuse times, in random order
)

var (
	popLoads   = []string{hot, distinct, mix}
	popDesigns = []string{authenik8, peer, naive}
)

// popReuse is how many times the mix uses each of its tokens.
const popReuse = 10

// tokenScript sends each request with the next token of its thread's file,
// starting over at the end (the caller checks that a distinct-token run
// never gets there).
const tokenScript = tokenFiles + `
function request()
  i = i + 1
  if i > #tokens then i = 1 end
  return wrk.format(nil, nil, {["Authorization"] = "Bearer " .. tokens[i]})
end
`

// Population is what results.json holds of the population measurement.
type Population struct {
	Sessions int     `json:"sessions"`
	Reuse    int     `json:"mix_reuse"`
	Seconds  float64 `json:"seconds"` // measured duration of each run
	// RPS[framework][design][load] lists each round's requests/s.
	RPS    map[string]map[string]map[string][]float64 `json:"rps"`
	Median map[string]map[string]map[string]float64   `json:"median_rps"`
	// Ratios[framework]: "distinct/tokens50" of authenik8 against itself
	// (same server, same run), "distinct/peer" and "mix/peer" against the
	// stateless peer's distinct-token run; medians over rounds of each
	// round's ratio.
	Ratios map[string]map[string]float64 `json:"ratios"`
}

// tokenSets are the token files of a population, one file per wrk thread.
type tokenSets struct {
	hot, distinct, mix string // file prefixes
	first              string // a token of the hot set, for check
	n                  int    // distinct tokens
}

// population opens n sessions plus the 50 of the hot set, stores the naive
// design's key of each, and writes the token files into dir.
func population(a *core.Auth, plain rueidis.Client, dir string, n, threads int) (*tokenSets, error) {
	start := time.Now()
	tokens, err := issueMany(a, plain, n+50)
	if err != nil {
		return nil, err
	}
	log.Printf("population: %d sessions opened in %.1fs", n+50, time.Since(start).Seconds())
	ts := &tokenSets{
		hot: filepath.Join(dir, hot), distinct: filepath.Join(dir, distinct), mix: filepath.Join(dir, mix),
		first: tokens[n], n: n,
	}
	if err := writeSplit(ts.hot, tokens[n:], threads); err != nil {
		return nil, err
	}
	if err := writeSplit(ts.distinct, tokens[:n], threads); err != nil {
		return nil, err
	}
	// The mix: n/popReuse tokens, each popReuse times, shuffled.
	m := make([]string, 0, n/popReuse*popReuse)
	for i := range n / popReuse {
		for range popReuse {
			m = append(m, tokens[i])
		}
	}
	rand.Shuffle(len(m), func(i, j int) { m[i], m[j] = m[j], m[i] })
	return ts, writeSplit(ts.mix, m, threads)
}

// issueMany opens n sessions, each for its own user, from 64 goroutines,
// and returns their access tokens.
func issueMany(a *core.Auth, plain rueidis.Client, n int) ([]string, error) {
	tokens := make([]string, n)
	var (
		next   atomic.Int64
		wg     sync.WaitGroup
		failed atomic.Pointer[error]
	)
	ctx := context.Background()
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for failed.Load() == nil {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				p, err := a.IssueSession(ctx, core.User{ID: "pop" + strconv.FormatInt(i, 10), Roles: []string{"user"}}, core.Client{})
				if err == nil {
					err = plain.Do(ctx, plain.B().Set().Key("naive:"+p.SessionID).Value("1").Ex(time.Hour).Build()).Error()
				}
				if err != nil {
					failed.Store(&err)
					return
				}
				tokens[i] = p.AccessToken
			}
		}()
	}
	wg.Wait()
	if e := failed.Load(); e != nil {
		return nil, *e
	}
	return tokens, nil
}

// writeSplit deals lines out to prefix.0 … prefix.<threads-1>, one file per
// wrk thread, so that no two threads send the same token.
func writeSplit(prefix string, lines []string, threads int) error {
	for t := range threads {
		f, err := os.Create(prefix + "." + strconv.Itoa(t))
		if err != nil {
			return err
		}
		w := bufio.NewWriter(f)
		for i := t; i < len(lines); i += threads {
			w.WriteString(lines[i])
			w.WriteByte('\n')
		}
		err = w.Flush()
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// freshServer starts framework fw with design on an Auth and a store of its
// own: caches that have seen no token. stop stops both.
func freshServer(fw, design string, c config, plain rueidis.Client) (*server, error) {
	store, a, err := setup(c.redisURL, c.prefix)
	if err != nil {
		return nil, err
	}
	s, err := start(fw, design, &deps{auth: a, secret: secret, plain: plain})
	if err != nil {
		store.Close()
		return nil, err
	}
	stop := s.stop
	s.stop = func() { stop(); store.Close() }
	return s, nil
}

// runPopulation measures every framework and design on the population, for
// c.rounds rounds. Each server is new to the tokens it is measured with:
// the 50-token run and then the distinct-token run go to one fresh server
// (the ratio of the two is that server's), the mix to another, warmed on
// the hot set first.
func runPopulation(c config, plain rueidis.Client, ts *tokenSets, script string, notes *[]string) (*Population, error) {
	p := &Population{Sessions: ts.n, Reuse: popReuse, Seconds: c.popFor.Seconds(), RPS: map[string]map[string]map[string][]float64{}}
	ratios := map[string]map[string][]float64{}
	for _, fw := range frameworks {
		p.RPS[fw] = map[string]map[string][]float64{}
		for _, d := range popDesigns {
			p.RPS[fw][d] = map[string][]float64{}
		}
		ratios[fw] = map[string][]float64{}
	}
	measure := func(s *server, fw, design, load, tokens string, round int) (float64, error) {
		l, err := wrkRun(s.url+"/api/profile", c.threads, c.conns, c.popFor, nil, script, tokens)
		if err != nil {
			return 0, err
		}
		if l.Non2xx > 0 || l.Errors > 0 {
			return 0, fmt.Errorf("population %s/%s %s: %d non-2xx answers, %d socket errors", fw, design, load, l.Non2xx, l.Errors)
		}
		if load == distinct && design != peer && l.Requests > int64(ts.n) {
			*notes = append(*notes, fmt.Sprintf("population %s/%s round %d: %d requests on %d tokens, some seen twice (shorten -pop-d)", fw, design, round+1, l.Requests, ts.n))
		}
		p.RPS[fw][design][load] = append(p.RPS[fw][design][load], l.RPS)
		log.Printf("round %d  %-5s %-9s %-8s %9.0f req/s", round+1, fw, design, load, l.RPS)
		return l.RPS, nil
	}
	for round := range c.rounds {
		for i := range frameworks {
			fw := frameworks[(i+round)%len(frameworks)]
			got := map[string]map[string]float64{}
			for j := range popDesigns {
				design := popDesigns[(j+round)%len(popDesigns)]
				got[design] = map[string]float64{}
				for _, loads := range [][]string{{hot, distinct}, {mix}} {
					s, err := freshServer(fw, design, c, plain)
					if err != nil {
						return nil, err
					}
					err = check(s.url, ts.first, true)
					if err == nil {
						_, err = wrkRun(s.url+"/api/profile", c.threads, c.conns, c.warmup, nil, script, ts.hot)
					}
					for _, load := range loads {
						if err != nil {
							break
						}
						got[design][load], err = measure(s, fw, design, load, map[string]string{hot: ts.hot, distinct: ts.distinct, mix: ts.mix}[load], round)
					}
					s.stop()
					if err != nil {
						return nil, fmt.Errorf("population %s/%s: %w", fw, design, err)
					}
				}
			}
			a, pe := got[authenik8], got[peer]
			ratios[fw]["distinct/tokens50"] = append(ratios[fw]["distinct/tokens50"], a[distinct]/a[hot])
			ratios[fw]["distinct/peer"] = append(ratios[fw]["distinct/peer"], a[distinct]/pe[distinct])
			ratios[fw]["mix/peer"] = append(ratios[fw]["mix/peer"], a[mix]/pe[mix])
		}
	}
	p.Median = map[string]map[string]map[string]float64{}
	p.Ratios = map[string]map[string]float64{}
	for _, fw := range frameworks {
		p.Median[fw] = map[string]map[string]float64{}
		for _, d := range popDesigns {
			p.Median[fw][d] = map[string]float64{}
			for _, load := range popLoads {
				p.Median[fw][d][load] = median(p.RPS[fw][d][load])
			}
		}
		p.Ratios[fw] = map[string]float64{}
		for k, v := range ratios[fw] {
			p.Ratios[fw][k] = median(v)
		}
	}
	return p, nil
}

// measurePopulation opens the population and measures it.
func measurePopulation(c config, a *core.Auth, plain rueidis.Client, dir string, notes *[]string) (*Population, error) {
	script := filepath.Join(dir, "tokens.lua")
	if err := os.WriteFile(script, []byte(tokenScript), 0o600); err != nil {
		return nil, err
	}
	ts, err := population(a, plain, dir, c.popN, c.threads)
	if err != nil {
		return nil, err
	}
	return runPopulation(c, plain, ts, script, notes)
}

// profilePopulation loads one fresh server with one load of the population
// (c.profile is framework/design/load) for c.popFor while recording a CPU
// profile and counting allocations of this process (the server's side).
func profilePopulation(c config, a *core.Auth, plain rueidis.Client) error {
	parts := strings.Split(c.profile, "/")
	fw, design, kind := parts[0], parts[1], parts[2]
	if !slices.Contains(frameworks, fw) || !slices.Contains(popDesigns, design) || !slices.Contains(popLoads, kind) {
		return fmt.Errorf("-profile %q: want framework/design/load, of %v/%v/%v", c.profile, frameworks, popDesigns, popLoads)
	}
	dir, err := os.MkdirTemp("", "authenik8-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	script := filepath.Join(dir, "tokens.lua")
	if err := os.WriteFile(script, []byte(tokenScript), 0o600); err != nil {
		return err
	}
	ts, err := population(a, plain, dir, c.popN, c.threads)
	if err != nil {
		return err
	}
	s, err := freshServer(fw, design, c, plain)
	if err != nil {
		return err
	}
	defer s.stop()
	if _, err := wrkRun(s.url+"/api/profile", c.threads, c.conns, c.warmup, nil, script, ts.hot); err != nil {
		return err
	}
	tokens := map[string]string{hot: ts.hot, distinct: ts.distinct, mix: ts.mix}[kind]
	return profile(c.profile, plain, func() (load, error) {
		return wrkRun(s.url+"/api/profile", c.threads, c.conns, c.popFor, nil, script, tokens)
	})
}

// populationTable renders the population figures (none: "").
func populationTable(r *Results) string {
	p, m := r.Population, r.Memory
	var b strings.Builder
	if p != nil {
		fmt.Fprintf(&b, "\nPopulation: %d sessions opened through the API; requests/s, %d connections, %.0f s per run, medians of %d rounds\n\n", p.Sessions, r.Conns, p.Seconds, r.Rounds)
		fmt.Fprintf(&b, "| framework | design | 50 tokens | distinct tokens | mix (each token ×%d) |\n|---|---|---:|---:|---:|\n", p.Reuse)
		for _, fw := range frameworks {
			for _, d := range popDesigns {
				v := p.Median[fw][d]
				fmt.Fprintf(&b, "| %s | %s | %.0f | %.0f | %.0f |\n", fw, popLabels[d], v[hot], v[distinct], v[mix])
			}
		}
		b.WriteString("\nauthenik8, distinct tokens against its own 50-token run, and against the stateless peer on the same tokens: ")
		for i, fw := range frameworks {
			if i > 0 {
				b.WriteString("; ")
			}
			q := p.Ratios[fw]
			fmt.Fprintf(&b, "%s %.2f, %.2f (mix %.2f)", fw, q["distinct/tokens50"], q["distinct/peer"], q["mix/peer"])
		}
		b.WriteString("\n")
	}
	if m != nil {
		fmt.Fprintf(&b, "examples/gin on Redis, resident memory (VmRSS): %.1f MB before, %.1f MB after serving %d distinct sessions once each (%.2f KB per session)\n",
			m.BeforeMB, m.AfterMB, m.Sessions, m.PerSessKB)
	}
	return b.String()
}

var popLabels = map[string]string{authenik8: "authenik8", peer: "stateless peer", naive: "naive stateful"}
