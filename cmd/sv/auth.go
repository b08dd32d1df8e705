package main

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/svtool/sv/auth"
	"github.com/svtool/sv/stream"
)

// The flags that decide who may publish, watch and read /metrics: sv all, sv serve.
var (
	keysFlag      = &cli.StringFlag{Name: "keys", Usage: "read keys from `FILE`: \"STREAM KEY [ACTION,...]\" lines (STREAM * for all; actions publish, the default, read, metrics, api)", EnvVars: []string{"SV_KEYS"}}
	authURLFlag   = &cli.StringFlag{Name: "auth-url", Usage: "ask `URL` about each protected request (a JSON POST; 2xx allows), the answer kept for --auth-ttl", EnvVars: []string{"SV_AUTH_URL"}}
	authTTLFlag   = &cli.DurationFlag{Name: "auth-ttl", Value: auth.DefaultCallbackTTL, Usage: "how long an --auth-url answer is kept per action, stream and token", EnvVars: []string{"SV_AUTH_TTL"}}
	jwtSecretFlag = &cli.StringFlag{Name: "jwt-secret", Usage: "accept JWTs signed with HS256 and this `SECRET` (32 bytes or more)", EnvVars: []string{"SV_JWT_SECRET"}}
	jwtJWKSFlag   = &cli.StringFlag{Name: "jwt-jwks", Usage: "accept JWTs signed with RS256 or ES256 by a key of this JWKS `FILE`", EnvVars: []string{"SV_JWT_JWKS"}}
	protectFlag   = &cli.StringSliceFlag{Name: "protect", Usage: "also require a credential to `ACTION` (read: watch a stream; metrics: /metrics); publishing is protected once any credential is set", EnvVars: []string{"SV_PROTECT"}}
)

// accessFlags are the flags authorizer reads besides --token, in the order help lists them.
var accessFlags = []cli.Flag{keysFlag, authURLFlag, authTTLFlag, jwtSecretFlag, jwtJWKSFlag, protectFlag}

// accessValues are what authOptions reads: the command's flags, or the same with the
// --config file read again (reloadConfig).
type accessValues interface {
	String(name string) string
	StringSlice(name string) []string
	Duration(name string) time.Duration
}

// authorizer builds the Authorizer the flags describe, and returns the static keys too
// (the demo publisher presents one). It is nil when no flag sets a credential.
func authorizer(c *cli.Context, log *slog.Logger) (*auth.Authorizer, *auth.Keys, error) {
	o, keys, err := authOptions(c, c, log)
	if err != nil || len(o.Methods) == 0 {
		return nil, keys, err
	}
	return auth.New(o), keys, nil
}

// authOptions reads the access flags, and the files they name, into auth.Options
// (Methods empty when no flag sets a credential). The methods are tried cheapest first:
// keys, JWT, then the callback.
func authOptions(c *cli.Context, v accessValues, log *slog.Logger) (auth.Options, *auth.Keys, error) {
	keys := &auth.Keys{}
	if name := v.String("keys"); name != "" {
		f, err := os.Open(name)
		if err != nil {
			return auth.Options{}, nil, fmt.Errorf("--keys: %w", err)
		}
		keys, err = auth.ParseKeys(f, stream.Valid)
		f.Close()
		if err != nil {
			return auth.Options{}, nil, usagef("--keys %s: %v", name, err)
		}
	}
	if err := addStreamKeys(c, keys); err != nil {
		return auth.Options{}, nil, err
	}
	if token := v.String("token"); token != "" {
		keys.Add(auth.AnyStream, token, auth.Publish)
	}
	var methods []auth.Method
	if keys.Len() > 0 {
		methods = append(methods, keys)
	}
	if secret := v.String("jwt-secret"); secret != "" {
		m, err := auth.NewJWTSecret([]byte(secret))
		if err != nil {
			return auth.Options{}, nil, usagef("--jwt-secret: %v", err)
		}
		methods = append(methods, m)
	}
	if name := v.String("jwt-jwks"); name != "" {
		m, err := auth.LoadJWKS(name)
		if err != nil {
			return auth.Options{}, nil, usagef("--jwt-jwks %s: %v", name, err)
		}
		methods = append(methods, m)
	}
	if u := v.String("auth-url"); u != "" {
		if p, err := url.Parse(u); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			return auth.Options{}, nil, usagef("--auth-url: want an http:// or https:// URL, got %q", u)
		}
		methods = append(methods, &auth.Callback{URL: u, TTL: v.Duration("auth-ttl")})
	}
	var protect []auth.Action
	for _, list := range v.StringSlice("protect") {
		for name := range strings.SplitSeq(list, ",") {
			a, ok := auth.ParseAction(strings.TrimSpace(name))
			if !ok {
				return auth.Options{}, nil, usagef("--protect: %q is not an action (publish, read, metrics, api)", name)
			}
			protect = append(protect, a)
		}
	}
	if len(methods) == 0 {
		if len(protect) > 0 {
			return auth.Options{}, nil, usagef("--protect needs a credential: --token, --keys, --jwt-secret, --jwt-jwks or --auth-url")
		}
		return auth.Options{}, keys, nil
	}
	// Publishing and the API are protected once there is a credential, as publishing
	// always was with --token (without one, the API answers loopback clients only); an
	// action a key names is protected, or its key would be pointless.
	protect = append(protect, auth.Publish, auth.API)
	protect = append(protect, keys.Actions()...)
	slices.Sort(protect)
	protect = slices.Compact(protect)
	return auth.Options{Methods: methods, Protect: protect, Log: log.With("part", "auth")}, keys, nil
}

// reloadAuth makes az decide by the access settings read again at each SIGHUP, until ctx
// ends: the keys file, the JWKS file, and the --config file's access settings (what the
// command line or a variable set stays): keys and methods change while the streams go on.
// A file that does not read leaves the old ones in place.
func reloadAuth(ctx context.Context, c *cli.Context, az *auth.Authorizer, log *slog.Logger) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
		}
		v, err := reloadConfig(c)
		var o auth.Options
		if err == nil {
			o, _, err = authOptions(c, v, log)
		}
		switch {
		case err != nil:
			log.Warn("SIGHUP: cannot reload the keys: the old ones stay", "err", err)
		case az == nil:
			log.Warn("SIGHUP: sv started with no credential: restart it to protect it")
		case len(o.Methods) == 0:
			log.Warn("SIGHUP: no credential left in the files: the old keys stay")
		default:
			az.Replace(o)
			log.Info("SIGHUP: keys reloaded")
		}
	}
}

// addStreamKeys adds the keys that the --config file gives streams of its own ("keys", a
// list of "KEY [ACTION,...]" as in a keys file).
func addStreamKeys(c *cli.Context, keys *auth.Keys) error {
	if !hasFlag(c, "recording") { // sv all's file only
		return nil
	}
	settings, err := streamSettings(c)
	if err != nil {
		return err
	}
	for _, name := range slices.Sorted(maps.Keys(settings)) {
		lines := settings[name][streamKeys]
		if len(lines) == 0 {
			continue
		}
		var b strings.Builder
		for _, l := range lines {
			fmt.Fprintf(&b, "%s %s\n", name, l)
		}
		k, err := auth.ParseKeys(strings.NewReader(b.String()), stream.Valid)
		if err != nil {
			return usagef("--config %s: streams: %s: keys: %v", c.String("config"), name, err)
		}
		keys.AddAll(k)
	}
	return nil
}
