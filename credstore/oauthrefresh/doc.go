// Package oauthrefresh sends refresh-token grants to the Claude and Codex
// token endpoints the way their own CLIs do (a JSON body; form-encoded as an
// option) and classifies the outcome: a new token; a rejection (the grant is
// dead: invalid_grant or a reused, expired or revoked refresh token, 400,
// 401); an outage in which the provider did not take the token (not sent,
// 5xx, 429); or an unknown outcome (the request was sent and no answer
// arrived, or a gateway in front of the provider timed out), after which the
// provider may have rotated the token. It never retries by itself: a replayed
// refresh token counts as reuse at rotating providers and revokes the grant.
package oauthrefresh
