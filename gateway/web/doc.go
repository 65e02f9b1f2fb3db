// Package web serves the gateway's pages: server-rendered html/template
// pages, embedded in the binary with one stylesheet, usable without
// JavaScript and at phone width.
//
// Rules every page keeps:
//   - A browser has a server-side session (identity.Session): its cookie is
//     HttpOnly, SameSite=Lax, and Secure when the public URL is https. The
//     session starts signed out; signing in replaces it with a new one.
//   - Every POST carries the session's CSRF token (form field "csrf"); a
//     post without the right one changes nothing.
//   - A page that needs a person sends a signed-out browser to
//     /login?next=<the page>, and back after sign-in; next is only ever a
//     relative path of this site.
//   - Every OAuth flow a page starts is bound to its browser session; the
//     callback in another session changes nothing.
//   - Handlers decode the request, call one domain method, and render the
//     result or the error (mapped by its errs kind, never by its text).
//     Nothing shows a secret beyond its hint.
//
// Writing a page: see Server.handle, Page, and a template that defines
// "content" (templates/*.html); the layout adds the navigation.
package web
