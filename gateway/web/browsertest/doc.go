// Package browsertest drives Debian's Chromium, headless, from go test
// (chromedp), for the page journeys. Each Browser is its own Chromium
// process with a fresh profile, so two Browsers are two independent
// sessions (separate cookies). Under CI a missing Chromium fails the test;
// elsewhere it skips.
package browsertest
