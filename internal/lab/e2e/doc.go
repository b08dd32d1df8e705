// Package e2e holds sv's browser end-to-end tests: sv run as a user runs it, as separate
// processes (sv recv | sv dash with sv frames and sv serve, or one sv all), with headless
// Chromium publishing the test clock from the capture page and playing it in the viewer
// page, which decodes the capture time from every frame it shows.
//
// The tests assert behaviour, not speed: they run on shared, often busy machines, so every
// wait has a deadline that only a hang reaches, and how fast sv is (latency, time to first
// frame) is left to the benchmarks of internal/lab/bench. make test runs them; by hand,
// from internal/lab:
//
//	go test -count=1 -v ./e2e
//
// TestPlayers plays sv all's stream with stock players (dash.js, Shaka Player, hls.js) on
// plain pages of another origin; TestFirefoxPublisher publishes from Firefox ESR. What
// those players need from sv's own packager and FFmpeg's dash muxer does not give them
// (an end, one presentation across reconnects and restarts, Opus in MP4 that Chromium
// takes, LL-HLS parts) is checked as packager goals (goals_test.go): logged until a goal
// is turned on in packagerGoals, or with SV_PACKAGER_GOALS=all.
//
// They need FFmpeg, Chromium and Firefox ESR (scripts/deps.sh installs them); TestMain
// builds sv once.
package e2e
