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
// They need FFmpeg and Chromium (scripts/deps.sh installs them); TestMain builds sv once.
package e2e
