package redisstore

import (
	"fmt"
	"time"

	"github.com/redis/rueidis"

	"github.com/authenik8/authenik8-go/core"
)

// One decoder per session script reply (their shapes are documented beside
// the scripts in scripts.go). Each checks the shape and the type of every
// element, so that a script and its decoder cannot drift apart silently: a
// reply that does not match is an error (the call fails closed), never a
// zero value taken for an answer.

type createReply struct {
	created, expiry int64    // µs, ms
	evicted         []string // members of the sessions the bound ended
}

func decodeCreate(r rueidis.RedisResult) (createReply, error) {
	v, err := r.ToArray()
	if err != nil {
		return createReply{}, err
	}
	if len(v) != 3 {
		return createReply{}, malformed("create", "%d elements", len(v))
	}
	var out createReply
	if out.created, err = v[0].AsInt64(); err != nil {
		return createReply{}, malformed("create", "created: %v", err)
	}
	if out.expiry, err = v[1].AsInt64(); err != nil {
		return createReply{}, malformed("create", "expiry: %v", err)
	}
	if out.evicted, err = v[2].AsStrSlice(); err != nil {
		return createReply{}, malformed("create", "evicted: %v", err)
	}
	return out, nil
}

type rotateReply struct {
	outcome               core.Outcome
	data, ua, ip          string
	created, used, expiry int64             // µs, µs, ms
	user                  map[string]string // the account's fields, when loaded
}

func decodeRotate(r rueidis.RedisResult) (rotateReply, error) {
	v, err := r.ToArray()
	if err != nil {
		return rotateReply{}, err
	}
	if len(v) == 0 {
		return rotateReply{}, malformed("rotate", "empty")
	}
	n, err := v[0].AsInt64()
	if err != nil {
		return rotateReply{}, malformed("rotate", "outcome: %v", err)
	}
	out := rotateReply{outcome: core.Outcome(n)}
	switch out.outcome {
	case core.Invalid, core.Conflict, core.Reused, core.Ended, core.NoUser, core.Disabled:
		if len(v) != 1 {
			return rotateReply{}, malformed("rotate", "%d elements for outcome %v", len(v), out.outcome)
		}
		return out, nil
	case core.Rotated:
	default:
		return rotateReply{}, malformed("rotate", "unknown outcome %d", n)
	}
	if len(v) != 8 {
		return rotateReply{}, malformed("rotate", "%d elements", len(v))
	}
	strs := []*string{&out.data, &out.ua, &out.ip}
	for i, p := range strs {
		if *p, err = v[1+i].ToString(); err != nil {
			return rotateReply{}, malformed("rotate", "element %d: %v", 1+i, err)
		}
	}
	nums := []*int64{&out.created, &out.used, &out.expiry}
	for i, p := range nums {
		if *p, err = v[4+i].AsInt64(); err != nil {
			return rotateReply{}, malformed("rotate", "element %d: %v", 4+i, err)
		}
	}
	if out.user, err = v[7].AsStrMap(); err != nil {
		return rotateReply{}, malformed("rotate", "user: %v", err)
	}
	return out, nil
}

// decodeList returns the sessions of uid that the list script found live.
func decodeList(r rueidis.RedisResult, uid string) ([]core.Session, error) {
	rows, err := r.ToArray()
	if err != nil {
		return nil, err
	}
	out := make([]core.Session, 0, len(rows))
	for _, row := range rows {
		f, err := row.ToArray()
		if err != nil || len(f) != 7 {
			return nil, malformed("list", "row of %d elements (%v)", len(f), err)
		}
		var str [3]string
		for i := range str {
			if str[i], err = f[i].ToString(); err != nil {
				return nil, malformed("list", "element %d: %v", i, err)
			}
		}
		var num [3]int64
		for i := range num {
			if num[i], err = f[3+i].AsInt64(); err != nil {
				return nil, malformed("list", "element %d: %v", 3+i, err)
			}
		}
		data, err := f[6].ToString()
		if err != nil {
			return nil, malformed("list", "data: %v", err)
		}
		out = append(out, core.Session{
			ID: sessionIDOf(uid, str[0]), UserID: uid, UserAgent: str[1], IP: str[2],
			CreatedAt: time.UnixMicro(num[0]), LastUsedAt: time.UnixMicro(num[1]), ExpiresAt: time.UnixMilli(num[2]),
			Data: []byte(data),
		})
	}
	return out, nil
}

// decodeMembers decodes a list of session members (revoke-user script).
func decodeMembers(r rueidis.RedisResult) ([]string, error) {
	v, err := r.ToArray()
	if err != nil {
		return nil, err
	}
	out := make([]string, len(v))
	for i, m := range v {
		if out[i], err = m.ToString(); err != nil {
			return nil, malformed("revoke-user", "element %d: %v", i, err)
		}
	}
	return out, nil
}

func malformed(script, format string, args ...any) error {
	return fmt.Errorf("%w: %s script: %s", errMalformed, script, fmt.Sprintf(format, args...))
}
