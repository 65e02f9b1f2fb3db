// Package strictoauth is a strict OAuth 2.0 server for tests, built on
// ory/fosite: refresh tokens rotate on every use, and presenting a used
// refresh token again revokes the whole token family — what real providers
// do. It accepts the JSON token bodies that the Claude and Codex CLIs send
// (translating them to the form encoding fosite reads) as well as form
// bodies, counts refreshes and code exchanges, and can hold or drop an answer
// after the grant was processed (Intercept), to show what a client does when
// a rotation happened but its answer was lost.
//
// It also runs the authorization code grant with PKCE (S256 required, plain
// refused) for the Connect Claude and Connect OpenAI flows: the authorize page
// signs its one user in at once, Claude's code page shows "code#state", and
// grants with the openid scope get a signed id token carrying the OpenAI auth
// claim (chatgpt_account_id).
package strictoauth
