package lab

import (
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// FirefoxPrefs are the preferences of every Firefox the lab starts, written to its fresh
// profile's user.js. Firefox cannot be driven with chromedp, so the pages it opens must do
// their work from their URL alone (the capture page's autostart=1), with nothing to click
// or allow:
//
//   - media.navigator.streams.fake, media.navigator.permission.disabled: getUserMedia gives
//     a fake camera and microphone at once, without a prompt.
//   - media.autoplay.*: media and Web Audio start without a user's gesture (the test clock's
//     beep is an AudioContext).
//   - media.cubeb.force_mock_context: an audio backend that needs no device. A machine
//     without sound (a container, CI) has none: Firefox's audio graph then waits ~10 s for
//     a device before running on a clock of its own, and a MediaRecorder with an audio
//     track sends nothing until then, then 10 s of media at once, which puts the live
//     presentation (anchored to when its packager started) 10 s ahead of its capture for
//     the whole session. Input rate and channels stay those of a real Firefox without a
//     device (44.1 kHz AudioContext).
//   - the rest: no first-run, default-browser, session-restore or what's-new pages, and no
//     connection of its own to anywhere (updates, telemetry, health reports, remote
//     settings, safe browsing lists, add-on and search updates, captive-portal and
//     connectivity checks, DNS and link prefetching, push, geolocation): on a machine
//     without Internet access each would be an attempt that fails, again and again.
var FirefoxPrefs = map[string]any{
	"media.navigator.streams.fake":        true,
	"media.navigator.permission.disabled": true,
	"media.autoplay.default":              0, // allow
	"media.autoplay.blocking_policy":      0,
	"media.autoplay.block-webaudio":       false,
	"media.cubeb.force_mock_context":      true,

	"browser.shell.checkDefaultBrowser":                           false,
	"browser.startup.homepage_override.mstone":                    "ignore",
	"browser.startup.page":                                        0,
	"browser.aboutwelcome.enabled":                                false,
	"startup.homepage_welcome_url":                                "about:blank",
	"startup.homepage_welcome_url.additional":                     "",
	"browser.sessionstore.resume_from_crash":                      false,
	"toolkit.startup.max_resumed_crashes":                         -1,
	"browser.tabs.warnOnClose":                                    false,
	"browser.warnOnQuit":                                          false,
	"datareporting.policy.dataSubmissionEnabled":                  false,
	"datareporting.policy.dataSubmissionPolicyBypassNotification": true,
	"datareporting.healthreport.uploadEnabled":                    false,
	"datareporting.healthreport.service.enabled":                  false,
	"toolkit.telemetry.enabled":                                   false,
	"toolkit.telemetry.unified":                                   false,
	"toolkit.telemetry.archive.enabled":                           false,
	"toolkit.telemetry.server":                                    "data:,",
	"toolkit.crashreporter.enabled":                               false,
	"app.update.disabledForTesting":                               true,
	"app.update.auto":                                             false,
	"app.normandy.enabled":                                        false,
	"app.normandy.api_url":                                        "",
	"app.shield.optoutstudies.enabled":                            false,
	"services.settings.server":                                    "data:,#remote-settings-dummy/v1",
	"security.remote_settings.intermediates.enabled":              false,
	"security.certerrors.mitm.priming.enabled":                    false,
	"browser.safebrowsing.malware.enabled":                        false,
	"browser.safebrowsing.phishing.enabled":                       false,
	"browser.safebrowsing.downloads.enabled":                      false,
	"browser.safebrowsing.blockedURIs.enabled":                    false,
	"browser.safebrowsing.provider.mozilla.updateURL":             "",
	"extensions.update.enabled":                                   false,
	"extensions.getAddons.cache.enabled":                          false,
	"extensions.systemAddon.update.enabled":                       false,
	"extensions.blocklist.enabled":                                false,
	"browser.search.update":                                       false,
	"browser.region.network.url":                                  "",
	"browser.region.update.enabled":                               false,
	"browser.newtabpage.enabled":                                  false,
	"browser.newtabpage.activity-stream.feeds.section.topstories": false,
	"browser.newtabpage.activity-stream.feeds.snippets":           false,
	"browser.newtabpage.activity-stream.showSponsoredTopSites":    false,
	"browser.topsites.contile.enabled":                            false,
	"browser.urlbar.suggest.searches":                             false,
	"browser.pagethumbnails.capturing_disabled":                   true,
	"browser.ping-centre.telemetry":                               false,
	"network.captive-portal-service.enabled":                      false,
	"network.connectivity-service.enabled":                        false,
	"network.dns.disablePrefetch":                                 true,
	"network.prefetch-next":                                       false,
	"network.predictor.enabled":                                   false,
	"network.http.speculative-parallel-limit":                     0,
	"network.trr.mode":                                            5, // no DNS over HTTPS
	"network.sntp.pools":                                          "",
	"dom.push.connection.enabled":                                 false,
	"geo.provider.network.url":                                    "",
	"media.gmp-manager.updateEnabled":                             false,
	"media.gmp-gmpopenh264.autoupdate":                            false,
	"identity.fxaccounts.enabled":                                 false,
	"general.useragent.updates.enabled":                           false,
}

// userJS is FirefoxPrefs as a user.js file.
func userJS() string {
	var b strings.Builder
	b.WriteString("// Written by sv's lab (internal/lab/firefox.go) for a test's Firefox.\n")
	for _, k := range slices.Sorted(maps.Keys(FirefoxPrefs)) {
		var v string
		switch x := FirefoxPrefs[k].(type) {
		case string:
			v = `"` + strings.ReplaceAll(strings.ReplaceAll(x, `\`, `\\`), `"`, `\"`) + `"`
		case bool:
			v = "false"
			if x {
				v = "true"
			}
		case int:
			v = strconv.Itoa(x)
		}
		b.WriteString(`user_pref("` + k + `", ` + v + ");\n")
	}
	return b.String()
}

// StartFirefox starts Firefox ESR (firefox-esr, which the caller has required) headless
// with a fresh profile of FirefoxPrefs, opening url. Its processes are killed, all of
// them, and waited for when the test ends; Stop ends them sooner. Firefox's stderr is in
// the returned Child's Log.
func StartFirefox(t testing.TB, url string) *Firefox {
	t.Helper()
	profile := t.TempDir()
	if err := os.WriteFile(filepath.Join(profile, "user.js"), []byte(userJS()), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("firefox-esr", "--headless", "--no-remote", "--profile", profile, url)
	// HOME in the profile: Firefox also writes outside its profile (~/.mozilla, caches).
	cmd.Env = append(os.Environ(), "HOME="+profile, "MOZ_CRASHREPORTER_DISABLE=1", "MOZ_DISABLE_AUTO_SAFE_MODE=1")
	// A process group of its own, so that its content processes are killed with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	f := &Firefox{Child: Start(t, cmd)}
	t.Cleanup(func() { f.Stop() }) // before Start's cleanup, which would only interrupt the leader
	return f
}

// Firefox is a headless Firefox of StartFirefox.
type Firefox struct{ *Child }

// Stop kills Firefox and every process of its group, and waits for it.
func (f *Firefox) Stop() {
	syscall.Kill(-f.Pid(), syscall.SIGKILL)
	f.Wait(time.Minute)
}
