// Package e2e holds sv's browser end-to-end tests: sv run as a user runs it, as separate
// processes (sv recv | sv dash with sv frames and sv serve, or one sv all), with headless
// Chromium publishing the test clock from the capture page and playing it in the viewer
// page, which decodes the capture time from every frame it shows.
//
// make test runs them; by hand, from internal/lab:
//
//	go test -count=1 -v ./e2e
//
// They need FFmpeg and Chromium (scripts/deps.sh installs them); TestMain builds sv once.
package e2e
