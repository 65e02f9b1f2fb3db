// Command replicas-gateway is the Replicas integration gateway: it receives
// GitHub App and Linear webhooks, works out who asked and with which
// credentials, launches coding-agent workspaces and serves them their
// credentials while they run. `serve` runs it; `migrate`, `admin …`, `demo`
// and `trigger` are the operator's tools. main.go holds run, the testable
// entry point, and app.go the one composition root.
package main
