package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// TestMetricsAfterSession runs each example with METRICS=1 through a
// scripted session — register, a wrong password, login, refresh, a
// conflicting refresh, a second rotation, the first token replayed
// (reuse: the session is revoked), login again, logout — and checks that
// GET /metrics parses as Prometheus text and shows every series of
// Authenik8's instruments with the counts the session produced.
func TestMetricsAfterSession(t *testing.T) {
	for _, fw := range frameworks {
		t.Run(fw, func(t *testing.T) {
			t.Parallel()
			s := start(t, fw, "METRICS=1")
			base := s.URL
			creds := fmt.Sprintf(`{"email":"mia-%d@example.com","password":"correct horse battery"}`, time.Now().UnixNano())
			want := func(a answer, status int, code string) answer {
				t.Helper()
				if a.Status != status || (code != "" && !strings.Contains(a.Body, `"error":"`+code+`"`)) {
					t.Fatalf("%d %s, want %d %s", a.Status, a.Body, status, code)
				}
				return a
			}
			tokens := func(a answer) (access, refresh string) {
				var p struct {
					Access  string `json:"access_token"`
					Refresh string `json:"refresh_token"`
				}
				if err := json.Unmarshal([]byte(a.Body), &p); err != nil {
					t.Fatalf("token response %s: %v", a.Body, err)
				}
				return p.Access, p.Refresh
			}
			refresh := func(token string) answer {
				return postJSON(t, base+"/auth/refresh", "", `{"refresh_token":"`+token+`"}`)
			}

			want(postJSON(t, base+"/auth/register", "", creds), 201, "")
			want(postJSON(t, base+"/auth/login", "", strings.Replace(creds, "correct", "wrong", 1)), 401, "invalid_credentials")
			_, r1 := tokens(want(postJSON(t, base+"/auth/login", "", creds), 200, ""))
			_, r2 := tokens(want(refresh(r1), 200, ""))
			want(refresh(r1), 401, "refresh_conflict")
			a3, _ := tokens(want(refresh(r2), 200, ""))
			want(refresh(r1), 401, "refresh_token_reused")
			want(call(t, "GET", base+"/api/profile", a3, "", ""), 401, "token_revoked")
			want(call(t, "GET", base+"/api/profile", "", "", ""), 401, "missing_token")
			a4, _ := tokens(want(postJSON(t, base+"/auth/login", "", creds), 200, ""))
			want(call(t, "GET", base+"/api/profile", a4, "", ""), 200, "")
			want(postJSON(t, base+"/auth/logout", a4, ""), 204, "")
			want(call(t, "GET", base+"/api/profile", a4, "", ""), 401, "token_revoked")

			families := scrapeMetrics(t, base)
			for name, series := range map[string]map[string]float64{
				"authenik8_logins_total": {"success": 2, "invalid_credentials": 1, "rate_limited": 0, "account_disabled": 0,
					"server_busy": 0, "store_unavailable": 0, "invalid_request": 0, "other": 0},
				"authenik8_refreshes_total": {"rotated": 2, "conflict": 1, "reused": 1, "invalid": 0, "store_unavailable": 0, "other": 0},
				"authenik8_verifications_total": {"ok": 2, "missing_token": 1, "invalid_token": 0, "token_expired": 0,
					"token_revoked": 2, "store_unavailable": 0, "other": 0},
				"authenik8_revocations_total": {"logout": 1, "logout_all": 0, "logout_others": 0, "revoke": 0, "reuse": 1,
					"evicted": 0, "user_deleted": 0, "password_change": 0, "password_reset": 0, "disabled": 0},
				// Looked up: the revoked a3 (miss), a4 three times (miss, hits).
				"authenik8_token_cache_hits_total":   {"": 2},
				"authenik8_token_cache_misses_total": {"": 2},
			} {
				got := counterValues(t, families[name], name)
				if !maps.Equal(got, series) {
					t.Errorf("%s = %v, want %v", name, got, series)
				}
			}
			ops := map[string]uint64{}
			if h := families["authenik8_store_duration_seconds"]; h == nil || h.GetType() != dto.MetricType_HISTOGRAM {
				t.Errorf("no histogram authenik8_store_duration_seconds: %v", h)
			} else {
				for _, m := range h.Metric {
					ops[labelValue(m, "op")] += m.GetHistogram().GetSampleCount()
				}
			}
			for op, n := range map[string]uint64{"register": 1, "authenticate": 3, "create_session": 2, "rotate": 4,
				"session_alive": 4, "revoke_session": 1} {
				if ops[op] != n {
					t.Errorf("authenik8_store_duration_seconds_count{op=%q} = %d, want %d (all: %v)", op, ops[op], n, ops)
				}
			}
		})
	}
}

// TestNoMetricsByDefault: without METRICS, /metrics is an unknown route.
func TestNoMetricsByDefault(t *testing.T) {
	for _, fw := range frameworks {
		t.Run(fw, func(t *testing.T) {
			t.Parallel()
			s := start(t, fw)
			if a := call(t, "GET", s.URL+"/metrics", "", "", ""); a.Status != 404 {
				t.Errorf("GET /metrics without METRICS: %d %s", a.Status, a.Body)
			}
		})
	}
}

// scrapeMetrics gets /metrics and parses it with the classic name rules.
func scrapeMetrics(t *testing.T, base string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := client.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET /metrics: %d %s\n%s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	families, err := p.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("/metrics is not Prometheus text: %v\n%s", err, body)
	}
	return families
}

// counterValues returns a counter family's values by their outcome or
// reason label ("" for none); the exporter's otel_scope_* labels aside, a
// series has no other label.
func counterValues(t *testing.T, f *dto.MetricFamily, name string) map[string]float64 {
	t.Helper()
	if f == nil || f.GetType() != dto.MetricType_COUNTER {
		t.Errorf("no counter %s: %v", name, f)
		return nil
	}
	got := map[string]float64{}
	for _, m := range f.Metric {
		key := ""
		for _, l := range m.Label {
			switch l.GetName() {
			case "outcome", "reason":
				key = l.GetValue()
			case "otel_scope_name", "otel_scope_version", "otel_scope_schema_url":
			default:
				t.Errorf("%s has a label %s", name, l.GetName())
			}
		}
		got[key] += m.GetCounter().GetValue()
	}
	return got
}

func labelValue(m *dto.Metric, name string) string {
	for _, l := range m.Label {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}
