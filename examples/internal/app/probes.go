package app

import (
	"context"
	"encoding/json"
	"time"

	"github.com/authenik8/authenik8-go/core"
)

// The example's own routes answer with core.Response values too, so the
// three frameworks write them with the same few lines.

var (
	jsonHeaders = []core.Header{{Key: "Content-Type", Value: "application/json"}, {Key: "Cache-Control", Value: "no-store"}}
	healthy     = &core.Response{Status: 200, Header: jsonHeaders, Body: []byte(`{"status":"ok"}`)}
	ready       = &core.Response{Status: 200, Header: jsonHeaders, Body: []byte(`{"status":"ready"}`)}
	welcome     = &core.Response{Status: 200, Header: jsonHeaders, Body: []byte(`{"message":"welcome, admin"}`)}
)

// Healthz answers GET /healthz: no auth, no I/O.
func Healthz() *core.Response { return healthy }

// Readyz answers GET /readyz: 200 when the store answers, 503
// store_unavailable when not.
func (app *App) Readyz(ctx context.Context) *core.Response {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := app.Auth.Ready(ctx); err != nil {
		return core.ErrorResponse(err)
	}
	return ready
}

// Profile answers GET /api/profile for any signed-in user.
func Profile(c *core.Claims) *core.Response {
	body, _ := json.Marshal(map[string]any{"sub": c.Subject, "sid": c.SessionID, "roles": c.Roles})
	return &core.Response{Status: 200, Header: jsonHeaders, Body: body}
}

// Admin answers GET /api/admin for role admin.
func Admin() *core.Response { return welcome }
