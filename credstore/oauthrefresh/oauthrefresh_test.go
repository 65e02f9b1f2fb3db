package oauthrefresh_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/tryreplicas/gateway/credstore/oauthrefresh"
)

// What each kind of answer from a token endpoint means for the credential.
func TestRefreshOutcomes(t *testing.T) {
	t.Parallel()
	answer := func(status int, body string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			_, _ = io.WriteString(w, body)
		}
	}
	const (
		rotated    = "rotated"
		rejected   = "rejected"
		down       = "unavailable"
		unknown    = "unknown"
		oldRefresh = "rt-old"
	)
	cases := []struct {
		name        string
		handler     http.HandlerFunc
		want        string
		wantRefresh string // for rotated answers
		wantCode    string // for rejections
	}{
		{"new tokens", answer(200, `{"access_token":"at-2","refresh_token":"rt-2","id_token":"id-2","token_type":"Bearer","expires_in":3600}`), rotated, "rt-2", ""},
		{"no new refresh token keeps the old one", answer(200, `{"access_token":"at-2","token_type":"Bearer","expires_in":3600}`), rotated, oldRefresh, ""},
		{"invalid_grant", answer(400, `{"error":"invalid_grant","error_description":"The refresh token was already used."}`), rejected, "", "invalid_grant"},
		{"401 without a body", answer(401, ``), rejected, "", ""},
		{"reused (Codex provider shape)", answer(401, `{"error":{"message":"Your refresh token has already been used","type":"invalid_request_error","code":"refresh_token_reused"}}`), rejected, "", "refresh_token_reused"},
		{"reused answered with 403", answer(403, `{"error":{"code":"refresh_token_reused"}}`), rejected, "", "refresh_token_reused"},
		{"revoked, top-level code", answer(403, `{"code":"refresh_token_invalidated"}`), rejected, "", "refresh_token_invalidated"},
		{"500", answer(500, `oops`), down, "", ""},
		{"429", answer(429, `{"error":"rate_limited"}`), down, "", ""},
		{"404", answer(404, `not here`), down, "", ""},
		{"502 from a proxy", answer(502, `bad gateway`), unknown, "", ""},
		{"504 from a proxy", answer(504, `gateway timeout`), unknown, "", ""},
		{"200 without an access token", answer(200, `<html>ok</html>`), unknown, "", ""},
		{"connection dropped after the request", func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.ReadAll(r.Body)
			conn, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				_ = conn.Close()
			}
		}, unknown, "", ""},
		{"no answer before the timeout", func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.ReadAll(r.Body)
			<-r.Context().Done()
		}, unknown, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(tc.handler)
			defer srv.Close()
			ep := oauthrefresh.Endpoint{URL: srv.URL, ClientID: "cli", HTTP: &http.Client{Timeout: 300 * time.Millisecond}}
			tok, err := ep.Refresh(context.Background(), oldRefresh)
			var rej *oauthrefresh.RejectedError
			switch got := outcome(err); {
			case got != tc.want:
				t.Fatalf("outcome %s (%v), want %s", got, err, tc.want)
			case tc.want == rotated && (tok.AccessToken != "at-2" || tok.RefreshToken != tc.wantRefresh || tok.Expiry.IsZero()):
				t.Fatalf("token = %+v", tok)
			case tc.want == rejected && (!errors.As(err, &rej) || rej.Code != tc.wantCode):
				t.Fatalf("rejection = %v, want code %q", err, tc.wantCode)
			}
		})
	}
}

func outcome(err error) string {
	switch {
	case err == nil:
		return "rotated"
	case oauthrefresh.IsRejected(err):
		return "rejected"
	case errors.Is(err, oauthrefresh.ErrOutcomeUnknown):
		return "unknown"
	case errors.Is(err, oauthrefresh.ErrUnavailable):
		return "unavailable"
	}
	return "other: " + err.Error()
}

// A token endpoint that cannot be reached never got the token: the same
// token may be sent again, so this is an outage, not an unknown outcome.
func TestRefreshNotSent(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close()
	ep := oauthrefresh.Endpoint{URL: srv.URL, ClientID: "cli"}
	if _, err := ep.Refresh(context.Background(), "rt"); outcome(err) != "unavailable" {
		t.Fatalf("unreachable endpoint: %v", err)
	}
}

// The body is what the agents' CLIs send: JSON, or form-encoded as an option.
func TestRefreshBody(t *testing.T) {
	t.Parallel()
	for _, form := range []bool{false, true} {
		got := make(chan map[string]string, 1)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fields := map[string]string{"content-type": r.Header.Get("Content-Type")}
			if form {
				_ = r.ParseForm()
				for k := range r.PostForm {
					fields[k] = r.PostForm.Get(k)
				}
			} else {
				_ = json.NewDecoder(r.Body).Decode(&fields)
				fields["content-type"] = r.Header.Get("Content-Type")
			}
			got <- fields
			_, _ = io.WriteString(w, `{"access_token":"at","expires_in":60}`)
		}))
		ep := oauthrefresh.Endpoint{URL: srv.URL, ClientID: "cli", Form: form}
		if _, err := ep.Refresh(context.Background(), "rt-1"); err != nil {
			t.Fatal(err)
		}
		srv.Close()
		f := <-got
		wantType := "application/json"
		if form {
			wantType = "application/x-www-form-urlencoded"
		}
		if f["grant_type"] != "refresh_token" || f["refresh_token"] != "rt-1" || f["client_id"] != "cli" || f["content-type"] != wantType {
			t.Fatalf("form=%v: body %v", form, f)
		}
	}
}
