package core

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

// Claims are the verified contents of an access token. A *Claims handed out
// by Verify may be shared between requests: treat it as read-only.
type Claims struct {
	Subject   string         // sub: the user id
	SessionID string         // sid
	TokenID   string         // jti
	Roles     []string       // roles
	Extra     map[string]any // application claims (nil when none)
	IssuedAt  time.Time      // iat
	ExpiresAt time.Time      // exp

	// EmailVerified is the email_verified claim: whether the user's email
	// address was verified when the token was issued (User.EmailVerified).
	EmailVerified bool

	perms *permissions // the issuing Auth's role→permission map
}

// HasRole reports whether the claims carry role.
func (c *Claims) HasRole(role string) bool {
	return c != nil && slices.Contains(c.Roles, role)
}

// HasAnyRole reports whether the claims carry at least one of roles.
func (c *Claims) HasAnyRole(roles ...string) bool {
	for _, r := range roles {
		if c.HasRole(r) {
			return true
		}
	}
	return false
}

// HasAllRoles reports whether the claims carry every one of roles.
func (c *Claims) HasAllRoles(roles ...string) bool {
	if c == nil {
		return false
	}
	for _, r := range roles {
		if !c.HasRole(r) {
			return false
		}
	}
	return true
}

// IsAdmin reports whether the claims carry the configured admin role.
func (c *Claims) IsAdmin() bool {
	return c != nil && c.perms != nil && c.HasRole(c.perms.admin)
}

// HasAnyPermission reports whether the roles grant at least one of perms.
func (c *Claims) HasAnyPermission(perms ...string) bool {
	for _, p := range perms {
		if c.HasPermission(p) {
			return true
		}
	}
	return false
}

// HasAllPermissions reports whether the roles grant every one of perms.
func (c *Claims) HasAllPermissions(perms ...string) bool {
	if c == nil {
		return false
	}
	for _, p := range perms {
		if !c.HasPermission(p) {
			return false
		}
	}
	return true
}

// HasPermission reports whether one of the roles grants perm through
// Config.Permissions. A role granted "*" has every permission.
func (c *Claims) HasPermission(perm string) bool {
	if c == nil || c.perms == nil {
		return false
	}
	for _, r := range c.Roles {
		if g := c.perms.byRole[r]; g != nil && (g[perm] || g["*"]) {
			return true
		}
	}
	return false
}

// ExtraAs decodes the application claims (Claims.Extra) into a T, typically
// a struct with json tags, instead of type assertions on map values:
//
//	type tenant struct{ Org string `json:"org"` }
//	t, err := core.ExtraAs[tenant](claims)
//
// Each call encodes Extra to JSON and decodes it into a new T (a few
// microseconds and allocations for a handful of claims): call it once per
// request, not per field. Claims without application claims give T's zero
// value; a claim of the wrong type is an error.
func ExtraAs[T any](c *Claims) (T, error) {
	var v T
	if c == nil || len(c.Extra) == 0 {
		return v, nil
	}
	b, err := json.Marshal(c.Extra)
	if err != nil {
		return v, fmt.Errorf("authenik8: encode application claims: %w", err)
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return v, fmt.Errorf("authenik8: application claims as %T: %w", v, err)
	}
	return v, nil
}

// A Rule is an authorization decision over verified claims: nil to allow,
// ErrMissingToken when there are no claims, ErrForbidden otherwise. Adapters
// turn rules into middleware (Require, RequireAll, RequireAdmin,
// RequirePermission, RequireAllPermissions, and RequireRule for a Rule of
// the application's own) so that every framework decides alike.
type Rule func(*Claims) error

// AnyRole allows claims carrying at least one of roles.
func AnyRole(roles ...string) Rule {
	return func(c *Claims) error { return decide(c, c.HasAnyRole(roles...)) }
}

// AllRoles allows claims carrying every one of roles.
func AllRoles(roles ...string) Rule {
	return func(c *Claims) error { return decide(c, c.HasAllRoles(roles...)) }
}

// Admin allows claims carrying the configured admin role.
func Admin() Rule {
	return func(c *Claims) error { return decide(c, c.IsAdmin()) }
}

// Permission allows claims whose roles grant at least one of perms
// (Config.Permissions).
func Permission(perms ...string) Rule {
	return func(c *Claims) error { return decide(c, c.HasAnyPermission(perms...)) }
}

// AllPermissions allows claims whose roles grant every one of perms.
func AllPermissions(perms ...string) Rule {
	return func(c *Claims) error { return decide(c, c.HasAllPermissions(perms...)) }
}

// VerifiedEmail allows claims whose email_verified is true; others get 403
// email_not_verified, which tells the client what to do about it (verify
// the address, then log in again or refresh). The adapters'
// RequireVerifiedEmail.
func VerifiedEmail() Rule {
	return func(c *Claims) error {
		switch {
		case c == nil:
			return ErrMissingToken
		case !c.EmailVerified:
			return ErrEmailNotVerified
		}
		return nil
	}
}

// Allow turns a yes-or-no check into a Rule with the answers of the others:
// ErrMissingToken without claims, ErrForbidden when ok returns false.
func Allow(ok func(*Claims) bool) Rule {
	return func(c *Claims) error { return decide(c, c != nil && ok(c)) }
}

// The 403 body is the same for every rule: it names neither the role nor the
// route, so a refusal does not tell what would have been allowed.
func decide(c *Claims, ok bool) error {
	switch {
	case c == nil:
		return ErrMissingToken
	case !ok:
		return ErrForbidden
	}
	return nil
}

type permissions struct {
	admin  string
	byRole map[string]map[string]bool
}

func newPermissions(admin string, m map[string][]string) *permissions {
	p := &permissions{admin: admin, byRole: make(map[string]map[string]bool, len(m))}
	for role, perms := range m {
		set := make(map[string]bool, len(perms))
		for _, perm := range perms {
			set[perm] = true
		}
		p.byRole[role] = set
	}
	return p
}

type claimsKey struct{}

// NewContext returns a copy of ctx carrying c.
func NewContext(ctx context.Context, c *Claims) context.Context {
	return context.WithValue(ctx, claimsKey{}, c)
}

// FromContext returns the claims NewContext stored in ctx.
func FromContext(ctx context.Context) (*Claims, bool) {
	c, ok := ctx.Value(claimsKey{}).(*Claims)
	return c, ok && c != nil
}
