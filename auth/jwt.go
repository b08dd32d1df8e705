package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// JWTLeeway is the clock skew allowed when checking a token's exp and nbf.
const JWTLeeway = 5 * time.Second

// Claims are what a token for sv says, besides the registered claims (exp, which is
// required, nbf, sub):
//
//	{"streams": ["cam", "lobby"], "actions": ["read"], "exp": 1765000000}
//
// streams may hold "*" for every stream.
type Claims struct {
	Streams []string `json:"streams"`
	Actions []Action `json:"actions"`
}

// JWT is the method of signed tokens: HS256 with a shared secret (NewJWTSecret), or
// RS256 and ES256 with public keys from a JWKS file (LoadJWKS), each token naming its
// key by kid. A token that is not a JWT, is badly signed, has expired or has no exp
// does not allow anything; it is no error.
type JWT struct {
	key  any // []byte or jose.JSONWebKeySet
	algs []jose.SignatureAlgorithm
	name string
	now  func() time.Time

	// verified keeps the claims of tokens whose signature checked out, so that a
	// player's every segment request does not check it again.
	mu       sync.Mutex
	verified map[string]verified
}

type verified struct {
	claims Claims
	std    jwt.Claims
}

// maxVerified bounds JWT.verified: past it, it is emptied.
const maxVerified = 1 << 14

// NewJWTSecret checks tokens signed with HS256 and secret.
func NewJWTSecret(secret []byte) (*JWT, error) {
	if len(secret) < 32 {
		return nil, fmt.Errorf("the JWT secret has %d bytes: HS256 wants 32 or more", len(secret))
	}
	return &JWT{key: secret, algs: []jose.SignatureAlgorithm{jose.HS256}, name: "jwt (HS256)", now: time.Now}, nil
}

// LoadJWKS checks tokens signed with RS256 or ES256 and one of the public keys in the
// JWKS file name.
func LoadJWKS(name string) (*JWT, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	return ParseJWKS(b)
}

// ParseJWKS is LoadJWKS from the file's bytes.
func ParseJWKS(b []byte) (*JWT, error) {
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(b, &set); err != nil {
		return nil, fmt.Errorf("JWKS: %w", err)
	}
	var public jose.JSONWebKeySet
	for _, k := range set.Keys {
		if k.KeyID == "" {
			return nil, errors.New("JWKS: a key has no kid: tokens name their key by it")
		}
		if !k.Valid() || !k.IsPublic() {
			// A private key there is a mistake, but its public half is what we need.
			k = k.Public()
			if !k.Valid() {
				return nil, fmt.Errorf("JWKS: key %q is not a usable public key", k.KeyID)
			}
		}
		public.Keys = append(public.Keys, k)
	}
	if len(public.Keys) == 0 {
		return nil, errors.New("JWKS: no keys")
	}
	return &JWT{key: public, algs: []jose.SignatureAlgorithm{jose.RS256, jose.ES256}, name: "jwt (JWKS)", now: time.Now}, nil
}

// Allow reports whether r's token is a valid JWT whose claims allow its action on its
// stream.
func (j *JWT) Allow(_ context.Context, r *Request) (bool, error) {
	if strings.Count(r.Token, ".") != 2 {
		return false, nil
	}
	v, ok := j.verify(r.Token)
	if !ok {
		return false, nil
	}
	std, sv := v.std, v.claims
	if std.Expiry == nil || std.ValidateWithLeeway(jwt.Expected{Time: j.now()}, JWTLeeway) != nil {
		return false, nil
	}
	if !slices.Contains(sv.Actions, r.Action) {
		return false, nil
	}
	return r.Stream == "" || slices.Contains(sv.Streams, AnyStream) || slices.Contains(sv.Streams, r.Stream), nil
}

func (j *JWT) String() string { return j.name }

// verify returns the claims of a token whose signature checks out.
func (j *JWT) verify(token string) (verified, bool) {
	j.mu.Lock()
	v, ok := j.verified[token]
	j.mu.Unlock()
	if ok {
		return v, true
	}
	tok, err := jwt.ParseSigned(token, j.algs)
	if err != nil {
		return v, false
	}
	if err := tok.Claims(j.key, &v.std, &v.claims); err != nil {
		return v, false
	}
	j.mu.Lock()
	if j.verified == nil || len(j.verified) >= maxVerified {
		j.verified = map[string]verified{}
	}
	j.verified[token] = v
	j.mu.Unlock()
	return v, true
}
