package auth

import (
	"bufio"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
)

// AnyStream, as a key's stream, allows its actions on every stream.
const AnyStream = "*"

// MinKeyLength is the shortest key accepted: a short one is guessed.
const MinKeyLength = 8

// Keys is the static method: secrets, each allowing some actions on one stream or on
// all. The zero value holds none.
type Keys struct {
	keys []key
}

type key struct {
	stream  string // or AnyStream
	secret  string
	actions []Action
}

// Add lets secret do actions on stream (AnyStream for all).
func (k *Keys) Add(stream, secret string, actions ...Action) {
	k.keys = append(k.keys, key{stream, secret, actions})
}

// AddAll adds every key of o.
func (k *Keys) AddAll(o *Keys) {
	k.keys = append(k.keys, o.keys...)
}

// Len is how many keys there are.
func (k *Keys) Len() int { return len(k.keys) }

// Allow reports whether r's token is a key for its action and stream. Every key is
// compared, in constant time, whether an earlier one matched or not.
func (k *Keys) Allow(_ context.Context, r *Request) (bool, error) {
	ok := 0
	for _, e := range k.keys {
		match := subtle.ConstantTimeCompare([]byte(r.Token), []byte(e.secret))
		if (e.stream == AnyStream || e.stream == r.Stream) && slices.Contains(e.actions, r.Action) {
			ok |= match
		}
	}
	return ok == 1 && r.Token != "", nil
}

// Key returns a key that allows action on stream: one of that stream's own, or else
// one of all streams'.
func (k *Keys) Key(stream string, action Action) (string, bool) {
	var any string
	for _, e := range k.keys {
		if !slices.Contains(e.actions, action) {
			continue
		}
		if e.stream == stream {
			return e.secret, true
		}
		if e.stream == AnyStream && any == "" {
			any = e.secret
		}
	}
	return any, any != ""
}

// Actions returns every action some key allows.
func (k *Keys) Actions() []Action {
	var out []Action
	for _, e := range k.keys {
		for _, a := range e.actions {
			if !slices.Contains(out, a) {
				out = append(out, a)
			}
		}
	}
	return out
}

func (k *Keys) String() string { return "keys" }

// ParseKeys reads a keys file: one "STREAM KEY [ACTION,...]" per line, STREAM a stream's
// name or * for all, the actions publish (the default), read, metrics or api; blank lines and
// lines starting with # are skipped. valid reports whether a name is a stream's.
func ParseKeys(r io.Reader, valid func(string) bool) (*Keys, error) {
	k := &Keys{}
	seen := map[string]bool{}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		switch {
		case len(f) != 2 && len(f) != 3:
			return nil, fmt.Errorf("line %d: want \"STREAM KEY [ACTION,...]\", got %d fields", n, len(f))
		case f[0] != AnyStream && !valid(f[0]):
			return nil, fmt.Errorf("line %d: %q is not a stream name", n, f[0])
		case len(f[1]) < MinKeyLength:
			return nil, fmt.Errorf("line %d: the key of %s is shorter than %d characters", n, f[0], MinKeyLength)
		}
		actions := []Action{Publish}
		if len(f) == 3 {
			actions = nil
			for name := range strings.SplitSeq(f[2], ",") {
				a, ok := ParseAction(name)
				if !ok {
					return nil, fmt.Errorf("line %d: %q is not an action (publish, read, metrics, api)", n, name)
				}
				actions = append(actions, a)
			}
		}
		for _, a := range actions {
			id := f[0] + " " + string(a)
			if a == Publish && seen[id] {
				return nil, fmt.Errorf("line %d: stream %s has a publishing key already", n, f[0])
			}
			seen[id] = true
		}
		k.Add(f[0], f[1], actions...)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(k.keys) == 0 {
		return nil, errors.New("no keys in it")
	}
	return k, nil
}
