// Package oauthstate issues and consumes the state parameter of the OAuth
// flows: random, HMAC-signed, stored server-side, expiring and single-use,
// naming the org and user that started the flow (and a PKCE verifier), and
// bound to the browser session that started it: a callback opened in any
// other session consumes nothing and changes nothing.
package oauthstate
