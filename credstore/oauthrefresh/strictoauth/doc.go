// Package strictoauth is a strict OAuth 2.0 token endpoint for tests, built
// on ory/fosite: refresh tokens rotate on every use, and presenting a used
// refresh token again revokes the whole token family — what real providers
// do. It accepts the JSON refresh body that the Claude and Codex CLIs send
// (translating it to the form encoding fosite reads), counts refreshes, and
// can hold or drop an answer after the grant was processed (Intercept), to
// show what a client does when a rotation happened but its answer was lost.
package strictoauth
