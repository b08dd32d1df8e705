package lab

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// NginxConf writes an nginx configuration into a temporary folder of the test's own and
// returns its path: one worker, in the foreground, with its pid, its error log
// (error.log) and its temporary files in that folder and no access log; main holds the
// main context's other directives (events among them), http the http block's (servers
// among them).
func NginxConf(t testing.TB, main, http string) string {
	t.Helper()
	dir := t.TempDir()
	user := ""
	if os.Getuid() == 0 {
		user = "user root;" // its worker would otherwise run as nobody, who cannot read the test's folders
	}
	conf := fmt.Sprintf(`%[1]s
worker_processes 1;
daemon off;
master_process on;
pid %[2]s/nginx.pid;
error_log %[2]s/error.log warn;
%[3]s
http {
	access_log off;
	client_body_temp_path %[2]s/body;
	proxy_temp_path %[2]s/proxy;
	fastcgi_temp_path %[2]s/fastcgi;
	uwsgi_temp_path %[2]s/uwsgi;
	scgi_temp_path %[2]s/scgi;
%[4]s
}
`, user, dir, main, http)
	p := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(p, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
