package core

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"strings"
	"testing"
)

// fzRefreshCodec verifies with a current and a previous secret, as during a
// rotation of Config.RefreshSecret.
var fzRefreshCodec = refreshCodec{keys: [][]byte{
	[]byte("fuzz refresh secret, current, 32+ bytes"),
	[]byte("fuzz refresh secret, previous, 32+ bytes"),
}}

// fzRefreshToken builds a genuine refresh token like mint does, but
// deterministically (fixed "random" bytes), MAC'd with key k of the codec,
// so that crashers under testdata/fuzz reproduce in every run.
func fzRefreshToken(sid string, gen uint32, k int) string {
	raw := make([]byte, refreshHeader, refreshHeader+len(sid)+refreshMAC)
	raw[0] = refreshVersion
	binary.BigEndian.PutUint32(raw[1:5], gen)
	seed := sha256.Sum256([]byte(sid))
	copy(raw[5:refreshHeader], seed[:])
	raw = append(raw, sid...)
	raw = append(raw, fzRefreshCodec.mac(fzRefreshCodec.keys[k], raw)...)
	return base64.RawURLEncoding.EncodeToString(raw)
}

// fzGenuineRefresh are the genuine tokens: user ids of 16 bytes (as
// NewUserID makes, a 108-byte token whose base64url has no spare bits), of
// 12 and 13 bytes (104 and 105 bytes: 2 and 4 spare bits in the last
// character), of 1 and of the maximum 128 bytes; generations 0, 7 and the
// largest; both keys.
var fzGenuineRefresh = []string{
	fzRefreshToken("d22GyDxa0p3Rjqcx.AAAAAAAAAAAAAAAAAAAAAA", 0, 0),
	fzRefreshToken("victim-user1.BBBBBBBBBBBBBBBBBBBBBB", 7, 0),
	fzRefreshToken("victim-user13.CCCCCCCCCCCCCCCCCCCCCC", 1<<32-1, 1),
	fzRefreshToken("u.DDDDDDDDDDDDDDDDDDDDDD", 1, 1),
	fzRefreshToken(strings.Repeat("x", MaxUserIDBytes)+".EEEEEEEEEEEEEEEEEEEEEE", 2, 0),
}

// fzMutate applies one edit to s: op 0 replaces the byte at pos with b,
// 1 inserts b before pos, 2 deletes the byte at pos.
func fzMutate(s string, op uint8, pos uint16, b byte) string {
	i := int(pos) % (len(s) + 1)
	switch op % 3 {
	case 0:
		if i == len(s) {
			i--
		}
		return s[:i] + string([]byte{b}) + s[i+1:]
	case 1:
		return s[:i] + string([]byte{b}) + s[i:]
	default:
		if i == len(s) {
			i--
		}
		return s[:i] + s[i+1:]
	}
}

// FuzzRefreshToken: refreshCodec.parse never panics; a token it accepts is
// one of the genuine tokens (a fuzzer cannot forge the MAC), spelled
// canonically (strict base64url that re-encodes to the same string), with
// the hash of its bytes and a well-formed session id naming its user; and
// one edit of a genuine token — replace, insert or delete one byte — is
// never accepted unless it gives back the same string.
func FuzzRefreshToken(f *testing.F) {
	for i, g := range fzGenuineRefresh {
		rt, err := fzRefreshCodec.parse(g)
		if err != nil || rt.generation == 0 && i != 0 {
			f.Fatalf("control: genuine token %d: %+v, %v", i, rt, err)
		}
	}
	g0, g1 := fzGenuineRefresh[0], fzGenuineRefresh[1]
	for _, s := range []struct {
		token    string
		pick, op uint8
		pos      uint16
		b        byte
	}{
		{g0, 0, 0, 0, 'A'},
		{g1, 1, 0, 10, 'B'},
		{fzGenuineRefresh[2], 2, 1, 0, 'A'},
		{fzGenuineRefresh[3], 3, 2, 5, 0},
		{fzGenuineRefresh[4], 4, 0, 200, 'z'},
		{"", 0, 0, 0, 0},
		{"garbage", 0, 0, 143, '_'},
		{"AQ", 0, 0, 1, 'Q'},
		{"AQAAAAA", 1, 1, 143, '='},
		{g0[:len(g0)-1], 0, 2, 143, 0},
		{g0 + "=", 0, 1, 144, '='},
		{g0 + "A", 1, 1, 200, 'A'},
		{strings.NewReplacer("-", "+", "_", "/").Replace(g1) + "=", 1, 0, 3, '+'},
		{base64.StdEncoding.EncodeToString([]byte("not a token")), 0, 0, 0, '/'},
		{base64.RawURLEncoding.EncodeToString(make([]byte, refreshHeader+refreshMAC+1)), 0, 0, 0, 0},
		{strings.Repeat("A", MaxTokenBytes+1), 0, 0, 0, 0},
		{g0[:60] + "." + g0[60:], 0, 1, 60, '.'},
		{g0[:60] + "é" + g0[60:], 0, 0, 60, 0xc3},
	} {
		f.Add(s.token, s.pick, s.op, s.pos, s.b)
	}
	f.Fuzz(func(t *testing.T, token string, pick, op uint8, pos uint16, b byte) {
		checkRefreshParse(t, token)
		g := fzGenuineRefresh[int(pick)%len(fzGenuineRefresh)]
		m := fzMutate(g, op, pos, b)
		if _, err := fzRefreshCodec.parse(m); err == nil && m != g {
			t.Fatalf("one edit (op %d at %d, byte %q) of genuine token %q gives %q, which parses", op%3, int(pos)%(len(g)+1), b, g, m)
		}
	})
}

// checkRefreshParse checks what parse says of token.
func checkRefreshParse(t *testing.T, token string) {
	rt, err := fzRefreshCodec.parse(token)
	if err != nil {
		if err != errBadRefresh {
			t.Fatalf("parse(%q): unexpected error %v", token, err)
		}
		return
	}
	raw, derr := base64.RawURLEncoding.Strict().DecodeString(token)
	if derr != nil || base64.RawURLEncoding.EncodeToString(raw) != token {
		t.Fatalf("parse accepted %q, which is not canonical base64url (strict decoding: %v)", token, derr)
	}
	genuine := false
	for _, g := range fzGenuineRefresh {
		genuine = genuine || g == token
	}
	if !genuine {
		t.Fatalf("parse accepted %q, which is none of the genuine tokens", token)
	}
	if rt.hash != hashToken(raw) {
		t.Fatalf("parse(%q): hash %s, want %s", token, rt.hash, hashToken(raw))
	}
	uid, ok := SessionUser(rt.sessionID)
	if !ok || uid != rt.userID || !ValidUserID(uid) || string(raw[refreshHeader:len(raw)-refreshMAC]) != rt.sessionID {
		t.Fatalf("parse(%q): session %q of user %q", token, rt.sessionID, rt.userID)
	}
	if rt.generation != binary.BigEndian.Uint32(raw[1:5]) {
		t.Fatalf("parse(%q): generation %d", token, rt.generation)
	}
}
