package main

import (
	"strings"
	"testing"
)

func TestParseWrk(t *testing.T) {
	out := `Running 5s test @ http://127.0.0.1:4000/api/profile
  2 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.01ms  402.51us  10.03ms   83.12%
    Req/Sec    31.98k     2.11k   35.61k    72.00%
  318174 requests in 5.00s, 40.36MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 7
Requests/sec:  63606.43
Transfer/sec:      8.07MB
`
	l, err := parseWrk(out)
	if err != nil || l.RPS != 63606.43 || l.Requests != 318174 || l.Non2xx != 7 || l.Errors != 3 {
		t.Fatalf("parseWrk: %+v, %v", l, err)
	}
	if _, err := parseWrk("garbage"); err == nil {
		t.Fatal("parseWrk accepted garbage")
	}
}

func TestChartAndTable(t *testing.T) {
	r := &Results{Rounds: 3, Conns: 64, Median: map[string]map[string]float64{}, Ratios: map[string]map[string]float64{}, RefreshMed: map[string]float64{}}
	for i, fw := range frameworks {
		r.Median[fw] = map[string]float64{open: 60000, authenik8: 55000 + float64(i), peer: 20000, naive: 15000}
		r.Ratios[fw] = map[string]float64{"b/a": 0.92, "b/c": 2.75, "b/d": 3.67}
		r.RefreshMed[fw] = 12000
	}
	svg := chart(r)
	if !strings.HasPrefix(svg, "<svg") || strings.Count(svg, "<rect x=") < 12 || !strings.Contains(svg, "b/c 2.75") {
		t.Fatalf("chart:\n%s", svg)
	}
	if tab := table(r); !strings.Contains(tab, "| gin | 60000 | 55000 | 20000 | 15000 | 0.92 | 2.75 | 3.67 |") {
		t.Fatalf("table:\n%s", tab)
	}
	if median([]float64{3, 1, 2}) != 2 || median([]float64{4, 1, 2, 3}) != 2.5 {
		t.Fatal("median")
	}
}

func TestPopulationChartAndTable(t *testing.T) {
	r := &Results{Rounds: 3, Conns: 64, Median: map[string]map[string]float64{}, Ratios: map[string]map[string]float64{}, RefreshMed: map[string]float64{}}
	p := &Population{Sessions: 200000, Reuse: popReuse, Seconds: 3, Median: map[string]map[string]map[string]float64{}, Ratios: map[string]map[string]float64{}}
	for _, fw := range frameworks {
		p.Median[fw] = map[string]map[string]float64{
			authenik8: {hot: 50000, distinct: 26000, mix: 40000},
			peer:      {hot: 30000, distinct: 30000, mix: 30000},
			naive:     {hot: 15000, distinct: 12000, mix: 13000},
		}
		p.Ratios[fw] = map[string]float64{"distinct/tokens50": 0.52, "distinct/peer": 0.87, "mix/peer": 1.33}
	}
	r.Population = p
	r.Memory = &Memory{Sessions: 200000, BeforeMB: 30, AfterMB: 72.5, PerSessKB: 0.22}
	tab := table(r)
	for _, want := range []string{"| echo | authenik8 | 50000 | 26000 | 40000 |", "fiber 0.52, 0.87 (mix 1.33)", "30.0 MB before, 72.5 MB after serving 200000"} {
		if !strings.Contains(tab, want) {
			t.Fatalf("table lacks %q:\n%s", want, tab)
		}
	}
	svg := chart(r)
	if strings.Count(svg, "<rect x=") != 12+27+4 || !strings.Contains(svg, "distinct: 0.52 of 50 tokens, 0.87 of peer") || !strings.Contains(svg, "72 MB after") {
		t.Fatalf("chart:\n%s", svg)
	}
}
