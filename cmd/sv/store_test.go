package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/rogpeppe/go-internal/testscript"

	"github.com/svtool/sv/internal/testenv"
)

// TestStoreScripts runs the scripts in testdata/store: sv all with --store, against an
// S3-compatible server (versitygw) on loopback, a bucket of its own for each script
// ($BUCKET, at $S3_ENDPOINT, with the credentials in AWS_ACCESS_KEY_ID and
// AWS_SECRET_ACCESS_KEY).
func TestStoreScripts(t *testing.T) {
	testenv.RequireFFmpeg(t)
	srv := testenv.StartS3(t)
	client, err := minio.New(strings.TrimPrefix(srv.Endpoint, "http://"), &minio.Options{
		Creds: credentials.NewStaticV4(srv.Access, srv.Secret, ""), BucketLookup: minio.BucketLookupPath,
	})
	if err != nil {
		t.Fatal(err)
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	var n atomic.Int64
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/store",
		RequireExplicitExec: true,
		Setup: func(e *testscript.Env) error {
			bucket := fmt.Sprintf("sv-script-%d", n.Add(1))
			if err := client.MakeBucket(context.Background(), bucket, minio.MakeBucketOptions{}); err != nil {
				return err
			}
			e.Setenv("TESTDATA", filepath.Join(root, "testdata"))
			e.Setenv("CI", os.Getenv("CI"))
			e.Setenv("S3_ENDPOINT", srv.Endpoint)
			e.Setenv("S3_DIR", srv.Dir)
			e.Setenv("BUCKET", bucket)
			e.Setenv("AWS_ACCESS_KEY_ID", srv.Access)
			e.Setenv("AWS_SECRET_ACCESS_KEY", srv.Secret)
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"freeport": cmdFreeport,
			"waitport": cmdWaitport,
			"waitfor":  cmdWaitfor,
		},
	})
}
