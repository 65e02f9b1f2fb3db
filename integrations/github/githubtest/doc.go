// Package githubtest is a small GitHub API for tests and the demo: it checks
// the App JWT (RS256, issuer = app id) on the installation-token exchange and
// the installation token on every other call, and records the reactions and
// comments it receives.
package githubtest
