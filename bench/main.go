package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/redis/rueidis"

	"github.com/authenik8/authenik8-go/conformance/redistest"
	"github.com/authenik8/authenik8-go/core"
	"github.com/authenik8/authenik8-go/redisstore"
)

var (
	secret        = []byte("bench access secret, at least 32 bytes long")
	refreshSecret = []byte("bench refresh secret, at least 32 bytes long")
)

type config struct {
	rounds, conns, threads, trials, poolPerSecond, popN int
	duration, warmup, refreshFor, popFor                time.Duration
	out, redisURL, prefix, profile, steps               string
}

// steps are the parts of a run, all by default (-steps).
var steps = []string{"warm", "refresh", "propagation", "population", "rss"}

func (c config) does(step string) bool {
	return c.steps == "" || slices.Contains(strings.Split(c.steps, ","), step)
}

func main() {
	var c config
	peerMode := flag.Bool("peer", false, "internal: run as the other process of the propagation measurement")
	replot := flag.Bool("replot", false, "measure nothing: redraw chart.svg and print the table from results.json in -out")
	flag.IntVar(&c.rounds, "rounds", 3, "rounds; figures are medians over rounds")
	flag.IntVar(&c.conns, "conns", 64, "wrk connections")
	flag.IntVar(&c.threads, "threads", 2, "wrk threads")
	flag.IntVar(&c.trials, "trials", 500, "revocations timed for the propagation figures")
	flag.IntVar(&c.poolPerSecond, "pool", 30000, "sessions prepared per second of refresh load")
	flag.DurationVar(&c.duration, "d", 5*time.Second, "measured duration of each wrk run")
	flag.DurationVar(&c.warmup, "warmup", time.Second, "unmeasured wrk run before each measurement")
	flag.DurationVar(&c.refreshFor, "refresh-d", 3*time.Second, "measured duration of each refresh run")
	flag.StringVar(&c.out, "out", "results", "directory for results.json and chart.svg")
	flag.StringVar(&c.redisURL, "redis", os.Getenv("REDIS_URL"), "Redis URL (default: a throwaway redis-server)")
	flag.StringVar(&c.prefix, "prefix", "bench", "key prefix")
	flag.IntVar(&c.popN, "pop", 200_000, "sessions of the population measurement")
	flag.DurationVar(&c.popFor, "pop-d", 3*time.Second, "measured duration of each population run")
	flag.StringVar(&c.steps, "steps", "", "comma-separated steps to run, of "+strings.Join(steps, ",")+" (default all)")
	flag.StringVar(&c.profile, "profile", "", "only load framework/scenario (e.g. fiber/authenik8) for -d, or framework/design/load of the population (e.g. gin/authenik8/distinct) for -pop-d, and write a CPU profile to cpu.pprof")
	flag.Parse()
	log.SetFlags(0)
	if *replot {
		if err := redraw(c.out); err != nil {
			log.Fatal(err)
		}
		return
	}
	if *peerMode {
		_, a, _ := setup(c.redisURL, c.prefix)
		if err := runPeer(a); err != nil {
			log.Fatal(err)
		}
		return
	}
	if err := run(c); err != nil {
		log.Fatal(err)
	}
}

// setup opens the store and the Auth every measurement shares.
func setup(url, prefix string) (*redisstore.Store, *core.Auth, error) {
	store, err := redisstore.Open(url, redisstore.Options{KeyPrefix: prefix})
	if err != nil {
		return nil, nil, err
	}
	key, _ := core.NewHMACKey(secret)
	a, err := core.New(core.Config{
		Store: store, AccessKeys: []core.Key{key}, RefreshSecret: refreshSecret,
		AccessTTL: time.Hour, IdleTTL: time.Hour, AbsoluteTTL: time.Hour,
	})
	return store, a, err
}

// Results is what results.json holds.
type Results struct {
	Date    string `json:"date"`
	Machine string `json:"machine"`
	Command string `json:"command"`
	Rounds  int    `json:"rounds"`
	Conns   int    `json:"connections"`
	// RPS[framework][scenario] lists each round's requests/s.
	RPS    map[string]map[string][]float64 `json:"rps"`
	Median map[string]map[string]float64   `json:"median_rps"`
	// Ratios[framework]["b/a"…] is the median over rounds of each round's ratio.
	Ratios      map[string]map[string]float64 `json:"ratios"`
	Refresh     map[string][]float64          `json:"refresh_rps"`
	RefreshMed  map[string]float64            `json:"refresh_median_rps"`
	Floor       []float64                     `json:"rotate_script_ops"`
	FloorMed    float64                       `json:"rotate_script_median_ops"`
	Propagation struct {
		N   int     `json:"n"`
		P50 float64 `json:"p50_ms"`
		P99 float64 `json:"p99_ms"`
		Max float64 `json:"max_ms"`
	} `json:"propagation"`
	Population *Population `json:"population,omitempty"`
	Memory     *Memory     `json:"memory,omitempty"`
	Notes      []string    `json:"notes,omitempty"`
}

func run(c config) error {
	if _, err := exec.LookPath("wrk"); err != nil {
		return fmt.Errorf("bench needs wrk: apt-get install wrk")
	}
	if c.redisURL == "" {
		srv, err := redistest.StartProcess()
		if err != nil {
			return err
		}
		defer redistest.StopAll()
		c.redisURL = srv.URL()
	}
	store, a, err := setup(c.redisURL, c.prefix)
	if err != nil {
		return err
	}
	defer store.Close()
	plainOpt, _ := rueidis.ParseURL(c.redisURL)
	plainOpt.DisableCache = true
	plain, err := rueidis.NewClient(plainOpt)
	if err != nil {
		return err
	}
	defer plain.Close()
	d := &deps{auth: a, secret: secret, plain: plain}

	ctx := context.Background()
	pair, err := a.IssueSession(ctx, core.User{ID: "bench-user", Roles: []string{"user"}}, core.Client{})
	if err != nil {
		return err
	}
	if err := plain.Do(ctx, plain.B().Set().Key("naive:"+pair.SessionID).Value("1").Ex(time.Hour).Build()).Error(); err != nil {
		return err
	}
	auth := "Authorization: Bearer " + pair.AccessToken

	servers := map[string]map[string]*server{}
	for _, fw := range frameworks {
		servers[fw] = map[string]*server{}
		for _, sc := range scenarios {
			s, err := start(fw, sc, d)
			if err != nil {
				return err
			}
			defer s.stop()
			servers[fw][sc] = s
			if err := check(s.url, pair.AccessToken, sc != open); err != nil {
				return fmt.Errorf("%s/%s: %w", fw, sc, err)
			}
		}
	}

	if strings.Count(c.profile, "/") == 2 {
		return profilePopulation(c, a, plain)
	}
	if c.profile != "" {
		return profileOne(c, servers, auth, plain)
	}

	res := Results{
		Date:    time.Now().UTC().Format(time.RFC3339),
		Machine: fmt.Sprintf("%s/%s, %d CPUs, %s", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.Version()),
		Command: "make bench (cd bench && go run . " + strings.Join(os.Args[1:], " ") + ")",
		Rounds:  c.rounds, Conns: c.conns,
		RPS: map[string]map[string][]float64{}, Refresh: map[string][]float64{},
	}
	ratios := map[string]map[string][]float64{}
	for _, fw := range frameworks {
		res.RPS[fw] = map[string][]float64{}
		ratios[fw] = map[string][]float64{}
	}
	if c.does("warm") {
		for round := range c.rounds {
			for i := range frameworks {
				fw := frameworks[(i+round)%len(frameworks)] // vary the order between rounds
				// Each scenario twice, in an order and its reverse (A B C D D C
				// B A): a drift of the machine's speed during the round
				// weighs the same on every scenario's mean.
				order := make([]string, 0, 2*len(scenarios))
				for j := range scenarios {
					order = append(order, scenarios[(j+round)%len(scenarios)])
				}
				for j := len(scenarios) - 1; j >= 0; j-- {
					order = append(order, order[j])
				}
				got := map[string]float64{}
				for _, sc := range order {
					url := servers[fw][sc].url + "/api/profile"
					if _, err := wrkRun(url, c.threads, c.conns, c.warmup, []string{auth}, ""); err != nil {
						return err
					}
					l, err := wrkRun(url, c.threads, c.conns, c.duration, []string{auth}, "")
					if err != nil {
						return err
					}
					if l.Non2xx > 0 || l.Errors > 0 {
						return fmt.Errorf("%s/%s: %d non-2xx answers, %d socket errors", fw, sc, l.Non2xx, l.Errors)
					}
					got[sc] += l.RPS / 2
					res.RPS[fw][sc] = append(res.RPS[fw][sc], l.RPS)
					log.Printf("round %d  %-5s %-9s %9.0f req/s", round+1, fw, sc, l.RPS)
				}
				ratios[fw]["b/a"] = append(ratios[fw]["b/a"], got[authenik8]/got[open])
				ratios[fw]["b/c"] = append(ratios[fw]["b/c"], got[authenik8]/got[peer])
				ratios[fw]["b/d"] = append(ratios[fw]["b/d"], got[authenik8]/got[naive])
			}
		}
	}

	tmp, err := os.MkdirTemp("", "authenik8-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	script := filepath.Join(tmp, "refresh.lua")
	if err := os.WriteFile(script, []byte(refreshScript), 0o600); err != nil {
		return err
	}
	if c.does("refresh") {
		for round := range c.rounds {
			for _, fw := range frameworks {
				n := int(c.refreshFor.Seconds()+c.warmup.Seconds()) * c.poolPerSecond
				pool, err := refreshPool(a, tmp, n, c.threads)
				if err != nil {
					return err
				}
				l, err := wrkRun(servers[fw][authenik8].url+"/auth/refresh", c.threads, c.conns, c.refreshFor, nil, script, pool)
				if err != nil {
					return err
				}
				if l.Non2xx > 0 {
					res.Notes = append(res.Notes, fmt.Sprintf("refresh %s round %d: %d non-2xx of %d (raise -pool if the pool ran dry)", fw, round+1, l.Non2xx, l.Requests))
				}
				res.Refresh[fw] = append(res.Refresh[fw], l.RPS)
				log.Printf("round %d  %-5s refresh   %9.0f req/s (%d non-2xx)", round+1, fw, l.RPS, l.Non2xx)
				for u := range poolUsers { // drop the pool's sessions
					if _, err := a.LogoutAll(ctx, fmt.Sprint("bench", u)); err != nil {
						return err
					}
				}
			}
			ops, err := rotateFloor(store, c.refreshFor)
			if err != nil {
				return err
			}
			res.Floor = append(res.Floor, ops)
			log.Printf("round %d  rotation script, 64 goroutines: %9.0f ops/s", round+1, ops)
		}
	}

	if c.does("propagation") {
		lat, err := propagation(a, c.redisURL, c.prefix, c.trials)
		if err != nil {
			return err
		}
		slices.Sort(lat)
		ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
		res.Propagation.N = len(lat)
		res.Propagation.P50 = ms(lat[len(lat)/2])
		res.Propagation.P99 = ms(lat[len(lat)*99/100])
		res.Propagation.Max = ms(lat[len(lat)-1])
	}

	if c.does("population") {
		pop, err := measurePopulation(c, a, plain, tmp, &res.Notes)
		if err != nil {
			return err
		}
		res.Population = pop
	}
	if c.does("rss") {
		m, err := measureRSS(c, tmp)
		if err != nil {
			return err
		}
		res.Memory = m
	}

	res.Median = map[string]map[string]float64{}
	res.Ratios = map[string]map[string]float64{}
	res.RefreshMed = map[string]float64{}
	for _, fw := range frameworks {
		res.Median[fw] = map[string]float64{}
		for _, sc := range scenarios {
			res.Median[fw][sc] = median(res.RPS[fw][sc])
		}
		res.Ratios[fw] = map[string]float64{}
		for k, v := range ratios[fw] {
			res.Ratios[fw][k] = median(v)
		}
		res.RefreshMed[fw] = median(res.Refresh[fw])
	}
	res.FloorMed = median(res.Floor)

	fmt.Print(table(&res))
	if err := os.MkdirAll(c.out, 0o755); err != nil {
		return err
	}
	js, _ := json.MarshalIndent(&res, "", "  ")
	if err := os.WriteFile(filepath.Join(c.out, "results.json"), append(js, '\n'), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(c.out, "chart.svg"), []byte(chart(&res)), 0o644)
}

// check makes sure a server answers 200 with the token and, when it
// authenticates, refuses the request without: a benchmark of a route that
// lets everything through would measure nothing.
func check(url, token string, guarded bool) error {
	for _, withToken := range []bool{true, false} {
		argv := []string{"-s", "-o", "/dev/null", "-w", "%{http_code}", url + "/api/profile"}
		if withToken {
			argv = append(argv, "-H", "Authorization: Bearer "+token)
		}
		out, err := exec.Command("curl", argv...).Output()
		if err != nil {
			return err
		}
		refused := len(out) == 3 && out[0] == '4' // gofiber/contrib/jwt answers 400 to a missing token
		if withToken && string(out) != "200" || !withToken && guarded && !refused {
			return fmt.Errorf("GET /api/profile (token: %v) answered %s", withToken, out)
		}
	}
	return nil
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// table renders the results for the terminal and the README.
func table(r *Results) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\n%s — %s; %d connections, medians of %d rounds\n\n", r.Date, r.Machine, r.Conns, r.Rounds)
	fmt.Fprintf(&b, "| framework | (a) open | (b) authenik8 | (c) stateless peer | (d) naive stateful | b/a | b/c | b/d |\n")
	fmt.Fprintf(&b, "|---|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, fw := range frameworks {
		m, q := r.Median[fw], r.Ratios[fw]
		fmt.Fprintf(&b, "| %s | %.0f | %.0f | %.0f | %.0f | %.2f | %.2f | %.2f |\n",
			fw, m[open], m[authenik8], m[peer], m[naive], q["b/a"], q["b/c"], q["b/d"])
	}
	fmt.Fprintf(&b, "\nPOST /auth/refresh on Redis, %d connections: ", r.Conns)
	for i, fw := range frameworks {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s %.0f req/s", fw, r.RefreshMed[fw])
	}
	fmt.Fprintf(&b, "; the rotation script alone (64 goroutines, no HTTP): %.0f ops/s\n", r.FloorMed)
	fmt.Fprintf(&b, "Revocation seen by another process: p50 %.2f ms, p99 %.2f ms (n=%d, max %.2f ms)\n",
		r.Propagation.P50, r.Propagation.P99, r.Propagation.N, r.Propagation.Max)
	b.WriteString(populationTable(r))
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "note: %s\n", n)
	}
	return b.String()
}

// profileOne loads one server for c.duration while recording a CPU profile
// of this process (the server's side), for finding where the time goes.
func profileOne(c config, servers map[string]map[string]*server, auth string, plain rueidis.Client) error {
	fw, sc, _ := strings.Cut(c.profile, "/")
	s := servers[fw][sc]
	if s == nil {
		return fmt.Errorf("-profile %q: want framework/scenario", c.profile)
	}
	if _, err := wrkRun(s.url+"/api/profile", c.threads, c.conns, c.warmup, []string{auth}, ""); err != nil {
		return err
	}
	return profile(c.profile, plain, func() (load, error) {
		return wrkRun(s.url+"/api/profile", c.threads, c.conns, c.duration, []string{auth}, "")
	})
}

// redraw rebuilds the chart and table from a saved results.json.
func redraw(dir string) error {
	js, err := os.ReadFile(filepath.Join(dir, "results.json"))
	if err != nil {
		return err
	}
	var r Results
	if err := json.Unmarshal(js, &r); err != nil {
		return err
	}
	fmt.Print(table(&r))
	return os.WriteFile(filepath.Join(dir, "chart.svg"), []byte(chart(&r)), 0o644)
}
