// Package oauthstate issues and consumes the state parameter of the OAuth
// flows: random, HMAC-signed, stored server-side, expiring and single-use,
// naming the org and user that started the flow (and a PKCE verifier).
package oauthstate
