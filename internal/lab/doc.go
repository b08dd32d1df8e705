// Package lab is what sv's browser end-to-end tests (package e2e) and its benchmark lab
// (package bench) share: the sv binary built once per test process, one watched child
// process type, headless Chromium driven over the DevTools protocol, polling helpers and
// readers of /proc. It is a module of its own so that the browser driver
// (github.com/chromedp/chromedp) and the receiver the ingest benchmarks compare sv with
// (github.com/gorilla/websocket) stay out of sv's own go.mod.
//
// # Processes
//
// Tests and benchmarks run sv as a user does, as separate processes: TestMain builds it
// once (Main, Bin) and every child goes through Start, which waits for it from the moment
// it starts, keeps its stderr for the test's log, and stops it when the test ends,
// whatever happened.
//
// # Headless Chromium
//
// ChromiumFlags is the one list of flags for every Chromium the lab starts, the tests' and
// cmd/recordtestdata's. What each is for:
//
//   - --headless=new --no-sandbox --disable-gpu: a headless browser that runs as root (as in
//     CI containers) on a machine without a GPU.
//   - --disable-background-networking --disable-component-update --disable-sync --disable-quic
//     --no-first-run --no-default-browser-check --disable-extensions: without them Chromium
//     keeps reaching out for updates, sync and first-run content, flooding a machine without
//     Internet access with connection attempts.
//   - --use-fake-device-for-media-stream --use-fake-ui-for-media-stream: a fake camera (640x480,
//     20 fps unless fps=N is given, a moving test pattern) and a fake 48 kHz microphone,
//     granted without a permission prompt. --use-file-for-fake-video-capture=FILE.y4m loops a
//     file instead of the pattern.
//   - --autoplay-policy=no-user-gesture-required --mute-audio: players start without a click,
//     silently.
//   - --disable-background-timer-throttling --disable-renderer-backgrounding
//     --disable-backgrounding-occluded-windows: every tab runs at full speed, not only the
//     one in front (a capture page and a viewer are open side by side).
//   - --disable-dev-shm-usage: containers often have a small /dev/shm.
//
// getUserMedia works on http://127.0.0.1 and http://localhost only (any other host needs
// HTTPS), so the pages are always opened on a loopback address. --dump-dom and
// --virtual-time-budget return before getUserMedia and MediaRecorder have done anything:
// the pages are driven over the DevTools protocol instead (StartBrowser, Browser.Open,
// EvalJSON).
//
// # Stock players
//
// testdata/players holds a plain page for each stock player sv's output must serve with no
// sv-specific code (Players): dash.js with its defaults, Shaka Player with
// streaming.lowLatencyMode, hls.js in its LL-HLS mode, each playing the manifest named in
// its query. Their one addition is measurement (stats.js): the glass-to-glass latency of
// every frame from its timecode, stalls, errors, the ended event. ServePlayers serves them
// from an origin of their own, so the media is fetched across origins; Shaka Player is
// vendored there by scripts/vendor-players.sh, dash.js and hls.js are web/vendor's.
//
// # Firefox
//
// StartFirefox runs Firefox ESR headless as a second publishing browser, with a fresh
// profile whose user.js (FirefoxPrefs) fakes the camera and microphone, allows autoplay and
// turns off its connections to the Internet. It cannot be driven like Chromium: the pages it
// opens work from their URL alone (the capture page's autostart=1), and what it does is
// seen on the server's side.
package lab
