// Package oauthconnect connects a person's Claude or OpenAI (Codex)
// subscription to the gateway: it starts an authorization code flow with PKCE
// (S256) at the provider, takes what the person pastes back (Claude's
// "code#state", or the address OpenAI redirected their browser to), exchanges
// the code at the token endpoint and stores the tokens as an OAuth credential
// of the gateway's own, at user scope or (admins) org scope. The gateway's
// grant is separate from any CLI login of the same person, so neither
// refresh logs the other out.
//
// The state names the org, the user, the scope and the PKCE verifier, is
// single-use, and is bound to the browser session that started the flow: a
// paste in another session, by another user or for another scope changes
// nothing. The id token of the OpenAI exchange is read, not verified: it
// arrives straight from the token endpoint over the connection the gateway
// opened (OpenID Connect lets such a client rely on TLS for it).
package oauthconnect
