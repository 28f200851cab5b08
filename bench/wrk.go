package main

import (
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// load is one wrk run's outcome.
type load struct {
	RPS      float64 `json:"rps"`
	Requests int64   `json:"requests"`
	Non2xx   int64   `json:"non_2xx"`
	Errors   int64   `json:"socket_errors"`
}

// wrkRun drives url with wrk: threads, connections, for d, with headers and
// an optional Lua script (and its arguments).
func wrkRun(url string, threads, conns int, d time.Duration, headers []string, script string, args ...string) (load, error) {
	argv := []string{"-t", strconv.Itoa(threads), "-c", strconv.Itoa(conns), "-d", fmt.Sprintf("%.0fs", d.Seconds())}
	for _, h := range headers {
		argv = append(argv, "-H", h)
	}
	if script != "" {
		argv = append(argv, "-s", script)
	}
	argv = append(argv, url)
	if len(args) > 0 {
		argv = append(append(argv, "--"), args...)
	}
	out, err := exec.Command("wrk", argv...).CombinedOutput()
	if err != nil {
		return load{}, fmt.Errorf("wrk %s: %v\n%s", strings.Join(argv, " "), err, out)
	}
	return parseWrk(string(out))
}

var (
	reRPS      = regexp.MustCompile(`Requests/sec:\s+([\d.]+)`)
	reRequests = regexp.MustCompile(`(\d+) requests in`)
	reNon2xx   = regexp.MustCompile(`Non-2xx or 3xx responses:\s+(\d+)`)
	reSocket   = regexp.MustCompile(`Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
)

// parseWrk reads wrk's summary.
func parseWrk(out string) (load, error) {
	m := reRPS.FindStringSubmatch(out)
	if m == nil {
		return load{}, fmt.Errorf("no Requests/sec in wrk output:\n%s", out)
	}
	var l load
	l.RPS, _ = strconv.ParseFloat(m[1], 64)
	if m := reRequests.FindStringSubmatch(out); m != nil {
		l.Requests, _ = strconv.ParseInt(m[1], 10, 64)
	}
	if m := reNon2xx.FindStringSubmatch(out); m != nil {
		l.Non2xx, _ = strconv.ParseInt(m[1], 10, 64)
	}
	if m := reSocket.FindStringSubmatch(out); m != nil {
		for _, s := range m[1:] {
			n, _ := strconv.ParseInt(s, 10, 64)
			l.Errors += n
		}
	}
	return l, nil
}
