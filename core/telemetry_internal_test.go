package core

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// Store and UserStore capabilities: the optional interfaces core asks its
// stores for, which the telemetry decorators must keep visible.
var (
	storeCapabilities = []reflect.Type{
		reflect.TypeFor[Limiter](), reflect.TypeFor[UserRotator](),
	}
	userCapabilities = []reflect.Type{
		reflect.TypeFor[UserRegistrar](), reflect.TypeFor[AccountStore](),
		reflect.TypeFor[LinkTokenStore](), reflect.TypeFor[IdentityStore](),
	}
)

// TestInstrumentedCapabilities: New wraps the Store and the UserStore in
// decorators; for every combination of optional interfaces, the decorated
// value implements exactly those of the original, each of its methods
// reaches the same method of the original, and a UserRotator still
// recognizes its own users through both decorators.
func TestInstrumentedCapabilities(t *testing.T) {
	tel := newTelemetry(Config{})
	seen := map[string]bool{}
	for _, mk := range storeCombos {
		f := &fakeStores{}
		orig := mk(f)
		got := tel.instrumentStore(orig)
		name := checkSameCapabilities(t, orig, got, storeCapabilities)
		seen[name] = true
		checkDelegation(t, f, got, append([]reflect.Type{reflect.TypeFor[Store]()}, storeCapabilities...))
	}
	if len(seen) != 1<<len(storeCapabilities) {
		t.Errorf("store combinations tested: %v; want all %d", seen, 1<<len(storeCapabilities))
	}
	clear(seen)
	for _, mk := range userCombos {
		f := &fakeStores{}
		orig := mk(f)
		got := tel.instrumentUsers(orig)
		name := checkSameCapabilities(t, orig, got, userCapabilities)
		seen[name] = true
		checkDelegation(t, f, got, append([]reflect.Type{reflect.TypeFor[UserStore]()}, userCapabilities...))
	}
	if len(seen) != 1<<len(userCapabilities) {
		t.Errorf("user store combinations tested: %v; want all %d", seen, 1<<len(userCapabilities))
	}

	// Through New: limits need the Limiter, ReloadUser in the rotation
	// needs HoldsUsers to see the store's own users behind the decorator.
	f := &fakeStores{}
	users := struct {
		UserStore
		UserRegistrar
	}{f, f}
	f.own = users
	key, _ := NewHMACKey([]byte("telemetry test secret, 32+ bytes long"))
	a, err := New(Config{Store: struct {
		UserRotator
		Limiter
	}{f, f}, Users: users, ReloadUser: true, AccessKeys: []Key{key}, RefreshSecret: []byte("telemetry test refresh secret, 32+ b")})
	if err != nil {
		t.Fatal(err)
	}
	if !a.loadUser {
		t.Error("ReloadUser with a UserRotator holding the users: the rotation does not load them (HoldsUsers saw the decorator)")
	}
	if a.limits.store == nil {
		t.Error("the decorated store lost its Limiter: rate limits are off")
	}
	if _, ok := a.cfg.Users.(UserRegistrar); !ok {
		t.Error("the decorated users lost UserRegistrar")
	}
	if _, ok := a.cfg.Store.(tracedStore); ok {
		t.Error("the store was not decorated with its capabilities")
	}
}

// TestCapabilityAssertionsCovered: every type assertion in core to one of
// core's interfaces is to a capability the decorators keep (above). A new
// optional interface must be added to instrumentStore or instrumentUsers,
// and here.
func TestCapabilityAssertionsCovered(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	interfaces := map[string]bool{}
	var parsed []*ast.File
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		parsed = append(parsed, f)
		ast.Inspect(f, func(n ast.Node) bool {
			if ts, ok := n.(*ast.TypeSpec); ok {
				if _, ok := ts.Type.(*ast.InterfaceType); ok {
					interfaces[ts.Name.Name] = true
				}
			}
			return true
		})
	}
	covered := map[string]bool{}
	for _, c := range append(slices.Clone(storeCapabilities), userCapabilities...) {
		covered[c.Name()] = true
	}
	asserted := 0
	for _, f := range parsed {
		ast.Inspect(f, func(n ast.Node) bool {
			var types []ast.Expr
			switch n := n.(type) {
			case *ast.TypeAssertExpr:
				types = append(types, n.Type)
			case *ast.TypeSwitchStmt:
				for _, c := range n.Body.List {
					types = append(types, c.(*ast.CaseClause).List...)
				}
			}
			for _, typ := range types {
				if id, ok := typ.(*ast.Ident); ok && interfaces[id.Name] {
					asserted++
					if !covered[id.Name] {
						t.Errorf("%s: a type assertion to %s, which the telemetry decorators do not keep", fset.Position(id.Pos()), id.Name)
					}
				}
			}
			return true
		})
	}
	if asserted == 0 {
		t.Fatal("found no type assertion to an interface of core: the check is broken")
	}
}

// checkSameCapabilities fails unless got implements exactly the
// capabilities orig does; it returns their names.
func checkSameCapabilities(t *testing.T, orig, got any, caps []reflect.Type) string {
	t.Helper()
	var have []string
	for _, c := range caps {
		o, g := reflect.TypeOf(orig).Implements(c), reflect.TypeOf(got).Implements(c)
		if o != g {
			t.Errorf("%T implements %s: %v; decorated: %v", orig, c.Name(), o, g)
		}
		if o {
			have = append(have, c.Name())
		}
	}
	return "[" + strings.Join(have, " ") + "]"
}

// checkDelegation calls every method of every interface in ifaces that got
// implements, with zero arguments, and checks that the fake saw that
// method called and that its answer came back.
func checkDelegation(t *testing.T, f *fakeStores, got any, ifaces []reflect.Type) {
	t.Helper()
	v := reflect.ValueOf(got)
	for _, it := range ifaces {
		if !v.Type().Implements(it) {
			continue
		}
		for i := range it.NumMethod() {
			m := it.Method(i)
			if m.Name == "HoldsUsers" {
				continue // checked through New
			}
			fn := v.MethodByName(m.Name)
			args := make([]reflect.Value, fn.Type().NumIn())
			for j := range args {
				args[j] = reflect.Zero(fn.Type().In(j))
				if fn.Type().In(j) == reflect.TypeFor[context.Context]() {
					args[j] = reflect.ValueOf(context.Background())
				}
			}
			f.calls = nil
			out := fn.Call(args)
			if !slices.Equal(f.calls, []string{m.Name}) {
				t.Errorf("%s through the decorator called %v", m.Name, f.calls)
			}
			if err, _ := out[len(out)-1].Interface().(error); !errors.Is(err, errFake) {
				t.Errorf("%s through the decorator returned %v, want the store's error", m.Name, err)
			}
		}
	}
}

var errFake = errors.New("fake store error")

// fakeStores implements every store interface; the combinations below show
// only some of them.
type fakeStores struct {
	calls []string
	own   UserStore // what HoldsUsers recognizes
}

func (f *fakeStores) call(name string) error { f.calls = append(f.calls, name); return errFake }

func (f *fakeStores) CreateSession(context.Context, NewSession) (Session, error) {
	return Session{}, f.call("CreateSession")
}
func (f *fakeStores) Rotate(context.Context, Rotation) (RotateResult, error) {
	return RotateResult{}, f.call("Rotate")
}
func (f *fakeStores) SessionAlive(context.Context, string, string) (bool, error) {
	return false, f.call("SessionAlive")
}
func (f *fakeStores) RevokeSession(context.Context, string, string) (bool, error) {
	return false, f.call("RevokeSession")
}
func (f *fakeStores) RevokeUser(context.Context, string) (int, error) {
	return 0, f.call("RevokeUser")
}
func (f *fakeStores) RevokeOtherSessions(context.Context, string, string) (int, error) {
	return 0, f.call("RevokeOtherSessions")
}
func (f *fakeStores) ListSessions(context.Context, string) ([]Session, error) {
	return nil, f.call("ListSessions")
}
func (f *fakeStores) Ping(context.Context) error { return f.call("Ping") }
func (f *fakeStores) HoldsUsers(u UserStore) bool {
	return f.own != nil && u == f.own
}
func (f *fakeStores) Hit(context.Context, string, int64, time.Duration) (bool, time.Duration, error) {
	return false, 0, f.call("Hit")
}
func (f *fakeStores) Peek(context.Context, string) (int64, time.Duration, error) {
	return 0, 0, f.call("Peek")
}
func (f *fakeStores) Undo(context.Context, string) error  { return f.call("Undo") }
func (f *fakeStores) Reset(context.Context, string) error { return f.call("Reset") }
func (f *fakeStores) Authenticate(context.Context, string, string) (User, error) {
	return User{}, f.call("Authenticate")
}
func (f *fakeStores) User(context.Context, string) (User, error) { return User{}, f.call("User") }
func (f *fakeStores) Register(context.Context, string, string, []string) (User, error) {
	return User{}, f.call("Register")
}
func (f *fakeStores) UserByEmail(context.Context, string) (User, error) {
	return User{}, f.call("UserByEmail")
}
func (f *fakeStores) SetPassword(context.Context, string, string) error {
	return f.call("SetPassword")
}
func (f *fakeStores) SetDisabled(context.Context, string, bool) error {
	return f.call("SetDisabled")
}
func (f *fakeStores) SetEmailVerified(context.Context, string) error {
	return f.call("SetEmailVerified")
}
func (f *fakeStores) PutLinkToken(context.Context, string, string, string, time.Duration) error {
	return f.call("PutLinkToken")
}
func (f *fakeStores) RedeemLinkToken(context.Context, string, string, string) (bool, error) {
	return false, f.call("RedeemLinkToken")
}
func (f *fakeStores) UserByIdentity(context.Context, string, string) (User, error) {
	return User{}, f.call("UserByIdentity")
}
func (f *fakeStores) LinkIdentity(context.Context, string, string, string) error {
	return f.call("LinkIdentity")
}
func (f *fakeStores) RegisterIdentity(context.Context, string, []string, string, string) (User, error) {
	return User{}, f.call("RegisterIdentity")
}

// Each combination of optional interfaces, by embedding only those.
var storeCombos = []func(*fakeStores) Store{
	func(f *fakeStores) Store { return struct{ Store }{f} },
	func(f *fakeStores) Store { return struct{ UserRotator }{f} },
	func(f *fakeStores) Store {
		return struct {
			Store
			Limiter
		}{f, f}
	},
	func(f *fakeStores) Store {
		return struct {
			UserRotator
			Limiter
		}{f, f}
	},
}

type (
	us = UserStore
	ur = UserRegistrar
	as = AccountStore
	lt = LinkTokenStore
	is = IdentityStore
)

var userCombos = []func(*fakeStores) UserStore{
	func(f *fakeStores) UserStore { return struct{ us }{f} },
	func(f *fakeStores) UserStore { return struct{ as }{f} },
	func(f *fakeStores) UserStore {
		return struct {
			us
			ur
		}{f, f}
	},
	func(f *fakeStores) UserStore {
		return struct {
			us
			lt
		}{f, f}
	},
	func(f *fakeStores) UserStore {
		return struct {
			us
			is
		}{f, f}
	},
	func(f *fakeStores) UserStore {
		return struct {
			as
			ur
		}{f, f}
	},
	func(f *fakeStores) UserStore {
		return struct {
			as
			lt
		}{f, f}
	},
	func(f *fakeStores) UserStore {
		return struct {
			as
			is
		}{f, f}
	},
	func(f *fakeStores) UserStore {
		return struct {
			us
			ur
			lt
		}{f, f, f}
	},
	func(f *fakeStores) UserStore {
		return struct {
			us
			ur
			is
		}{f, f, f}
	},
	func(f *fakeStores) UserStore {
		return struct {
			us
			lt
			is
		}{f, f, f}
	},
	func(f *fakeStores) UserStore {
		return struct {
			as
			ur
			lt
		}{f, f, f}
	},
	func(f *fakeStores) UserStore {
		return struct {
			as
			ur
			is
		}{f, f, f}
	},
	func(f *fakeStores) UserStore {
		return struct {
			as
			lt
			is
		}{f, f, f}
	},
	func(f *fakeStores) UserStore {
		return struct {
			us
			ur
			lt
			is
		}{f, f, f, f}
	},
	func(f *fakeStores) UserStore {
		return struct {
			as
			ur
			lt
			is
		}{f, f, f, f}
	},
}

// TestErrorCodeAsAnswered: an outcome is the code the client is answered
// with: errorCode finds the *Error that ErrorResponse does, however wrapped.
func TestErrorCodeAsAnswered(t *testing.T) {
	plain := errors.New("plain")
	for _, err := range []error{
		ErrInvalidToken, ErrTokenExpired.WithDescription("x"), plain,
		fmt.Errorf("ctx: %w", ErrRefreshConflict),
		fmt.Errorf("%w: %w", ErrInvalidRefreshToken, plain),
		storeErr(plain), storeErr(ErrAccountDisabled), // 503: the store's failure comes first
		fmt.Errorf("%w: %w", plain, ErrRateLimited),
		errors.Join(plain, ErrServerBusy, ErrMissingToken),
		rateLimited(Limit{Max: 1, Window: time.Minute}, time.Second),
	} {
		var body struct{ Error string }
		if e := json.Unmarshal(ErrorResponse(err).Body, &body); e != nil {
			t.Fatal(e)
		}
		want := body.Error
		if want == ErrInternal.Code {
			want = ""
		}
		if got := errorCode(err); got != want {
			t.Errorf("errorCode(%v) = %q; ErrorResponse answers %q", err, got, body.Error)
		}
	}
}

// TestOutcomes: each error maps to its documented label value.
func TestOutcomes(t *testing.T) {
	for err, want := range map[error]string{
		nil: "success", ErrInvalidCredentials: "invalid_credentials", ErrRateLimited: "rate_limited",
		ErrAccountDisabled: "account_disabled", errServerBusy: "server_busy", storeErr(ErrUserNotFound): "store_unavailable",
		ErrInvalidRequest.WithDescription("x"): "invalid_request", ErrNotFound: "other",
	} {
		if got := loginOutcomeNames[classifyLogin(err)]; got != want {
			t.Errorf("login %v: %s, want %s", err, got, want)
		}
	}
	for err, want := range map[error]string{
		nil: "rotated", ErrRefreshConflict: "conflict", ErrRefreshTokenReused: "reused",
		fmt.Errorf("%w: bad mac", ErrInvalidRefreshToken): "invalid", storeErr(errors.New("down")): "store_unavailable",
		ErrReservedClaim: "other",
	} {
		if got := refreshOutcomeNames[classifyRefresh(err)]; got != want {
			t.Errorf("refresh %v: %s, want %s", err, got, want)
		}
	}
	for err, want := range map[error]string{
		nil: "ok", ErrMissingToken: "missing_token", ErrInvalidToken: "invalid_token", ErrTokenExpired: "token_expired",
		ErrTokenRevoked: "token_revoked", storeErr(errors.New("down")): "store_unavailable", errors.New("?"): "other",
	} {
		if got := verifyOutcomeNames[classifyVerify(err)]; got != want {
			t.Errorf("verify %v: %s, want %s", err, got, want)
		}
	}
}
