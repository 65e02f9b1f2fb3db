// Package workspaceclient is what a running workspace uses to get its coding
// agent's credentials from the gateway, with the seed's "Authentication Retry
// Behavior": when the agent reports an authentication error, the request is
// paused (a "Re-authenticating Claude" state goes to a callback), the gateway
// is told the credential was rejected and answers with the rotated or next
// one, and the request is replayed. When the chain is exhausted the error
// carries the exact message the chat shows.
//
// Messages iterates over the workspace's conversation: it long-polls the
// gateway with a cursor (the last message handled), retries with backoff
// after errors, and ends when the context ends or the workspace has ended.
package workspaceclient
