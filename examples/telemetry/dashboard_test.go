package telemetry_test

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestDashboardQueries: every series and label value the Grafana dashboard
// (docs/grafana/authenik8.json) queries is one the Prometheus exporter
// serves, so that no panel stays empty because of a name.
func TestDashboardQueries(t *testing.T) {
	b, err := os.ReadFile("../../docs/grafana/authenik8.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("authenik8.json: %v", err)
	}

	// Series as served after a login and a verification.
	sdk := newSDK(t)
	f := newFixture(t, sdk, nil)
	f.verify(t, f.login(t, f.register(t, "gus"), nil).AccessToken, nil)
	served := map[string]bool{}
	values := map[string]map[string]bool{}
	for name, fam := range sdk.scrape(t) {
		served[name] = true
		if fam.GetType().String() == "HISTOGRAM" {
			served[name+"_bucket"], served[name+"_sum"], served[name+"_count"] = true, true, true
		}
		for _, m := range fam.Metric {
			for _, l := range m.Label {
				if values[l.GetName()] == nil {
					values[l.GetName()] = map[string]bool{}
				}
				values[l.GetName()][l.GetValue()] = true
			}
		}
	}

	names := regexp.MustCompile(`\bauthenik8_[a-z_]+`)
	matchers := regexp.MustCompile(`\b(outcome|reason|op)\s*(=|!=)\s*"([^"]*)"`)
	queries := 0
	for _, p := range dash.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, target := range p.Targets {
			queries++
			for _, n := range names.FindAllString(target.Expr, -1) {
				if !served[n] {
					t.Errorf("panel %q queries %s, which /metrics does not serve", p.Title, n)
				}
			}
			for _, m := range matchers.FindAllStringSubmatch(target.Expr, -1) {
				if !values[m[1]][m[3]] {
					t.Errorf("panel %q matches %s=%q, a value /metrics never has", p.Title, m[1], m[3])
				}
			}
			if !strings.Contains(target.Expr, `job=~"$job"`) {
				t.Errorf("panel %q does not filter by $job: %s", p.Title, target.Expr)
			}
		}
	}
	if queries < 10 {
		t.Errorf("the dashboard has %d queries", queries)
	}
}
