package main

import (
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/svtool/sv/store"
)

// storeFlags put the finished recordings in an S3-compatible object store (sv all).
var storeFlags = []cli.Flag{
	&cli.StringFlag{Name: "store", Usage: "also keep every finished recording and its seekable copy in an S3-compatible object store, at `s3://BUCKET/PREFIX`/{stream}/{file} (credentials: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN)", EnvVars: []string{"SV_STORE"}},
	&cli.StringFlag{Name: "store-endpoint", Usage: "the object store's `URL`, http:// or https://HOST[:PORT] (default: AWS S3); viewers of a stored recording are sent there", EnvVars: []string{"SV_STORE_ENDPOINT"}},
	&cli.StringFlag{Name: "store-region", Usage: "the bucket's `REGION` (default: asked of the store)", EnvVars: []string{"SV_STORE_REGION"}},
	&cli.StringFlag{Name: "store-addressing", Value: string(store.AddressingAuto), Usage: "how the bucket is named in requests: path (ENDPOINT/BUCKET/KEY, as self-hosted stores want), virtual (BUCKET.ENDPOINT/KEY) or auto (path with --store-endpoint, virtual on AWS S3)", EnvVars: []string{"SV_STORE_ADDRESSING"}},
	&cli.BoolFlag{Name: "store-keep-local", Value: true, Usage: "keep a recording's file once it is stored (false: remove it, and play it from the store)", EnvVars: []string{"SV_STORE_KEEP_LOCAL"}},
	&cli.StringFlag{Name: "store-part-size", Value: fmt.Sprintf("%dMiB", store.DefaultPartSize>>20), Usage: "files larger than this go up in parts of this size (at least 5MiB): the memory an upload takes", EnvVars: []string{"SV_STORE_PART_SIZE"}},
	&cli.StringFlag{Name: "store-rate", Value: "none", Usage: "upload at most `SIZE` a second, as 20MB (none: no bound); an upload takes a few ms of CPU a MB", EnvVars: []string{"SV_STORE_RATE"}},
	&cli.DurationFlag{Name: "store-url-expiry", Value: store.DefaultURLExpiry, Usage: "how long the signed URL that plays a stored recording is valid (at most 168h)", EnvVars: []string{"SV_STORE_URL_EXPIRY"}},
}

// storeHint says where the store's credentials come from.
const storeHint = "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for temporary credentials)"

// newStore makes the object store of --store; nil without it. Mistakes are usage errors.
func newStore(c *cli.Context, out string, log *slog.Logger) (*store.Store, error) {
	if c.String("store") == "" {
		for _, f := range []string{"store-endpoint", "store-region"} {
			if c.IsSet(f) {
				return nil, usagef("--%s needs --store s3://BUCKET/PREFIX", f)
			}
		}
		return nil, nil
	}
	if _, err := store.ParseURL(c.String("store")); err != nil {
		return nil, usagef("--store: %v", err)
	}
	addressing, err := store.ParseAddressing(c.String("store-addressing"))
	if err != nil {
		return nil, usagef("--store-addressing: %v", err)
	}
	part, err := parseSize(c.String("store-part-size"))
	if err != nil {
		return nil, usagef("--store-part-size: %v", err)
	}
	if part < store.MinPartSize {
		return nil, usagef("--store-part-size must be at least 5MiB, not %s", c.String("store-part-size"))
	}
	var rate int64
	if v := c.String("store-rate"); v != "none" {
		if rate, err = parseSize(v); err != nil {
			return nil, usagef("--store-rate: %v", err)
		}
	}
	expiry := c.Duration("store-url-expiry")
	if expiry <= 0 || expiry > 7*24*time.Hour {
		return nil, usagef("--store-url-expiry must be above 0 and at most 168h, not %s", expiry)
	}
	o := store.Options{
		URL:          c.String("store"),
		Endpoint:     c.String("store-endpoint"),
		Region:       c.String("store-region"),
		AccessKey:    os.Getenv("AWS_ACCESS_KEY_ID"),
		SecretKey:    os.Getenv("AWS_SECRET_ACCESS_KEY"),
		SessionToken: os.Getenv("AWS_SESSION_TOKEN"),
		Addressing:   addressing,
		Out:          out,
		RemoveLocal:  !c.Bool("store-keep-local"),
		PartSize:     part,
		Rate:         rate,
		URLExpiry:    expiry,
		Log:          log.With("stage", "store"),
	}
	if o.AccessKey == "" || o.SecretKey == "" {
		return nil, withHint(store.ErrNoCredentials, storeHint)
	}
	s, err := store.New(o)
	if err != nil {
		return nil, usagef("--store: %v", err)
	}
	return s, nil
}
