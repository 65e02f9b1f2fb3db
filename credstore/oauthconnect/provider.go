// The two providers: their authorization addresses and the code exchange.

package oauthconnect

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/tryreplicas/gateway/credstore"
	"github.com/tryreplicas/gateway/gateway/errs"
)

// Provider is one agent's OAuth application: where the person authorizes,
// where the code is exchanged, and the client it is all done as. Claude's
// authorization page shows the code for pasting (code=true) and its token
// endpoint takes JSON; OpenAI redirects the browser and takes a form.
type Provider struct {
	Agent        credstore.Agent
	AuthorizeURL string
	TokenURL     string
	ClientID     string
	RedirectURL  string
	Scopes       []string
	HTTP         *http.Client // nil: a client with a 20 s timeout
}

func (p Provider) oauth2() *oauth2.Config {
	return &oauth2.Config{
		ClientID:    p.ClientID,
		RedirectURL: p.RedirectURL,
		Scopes:      p.Scopes,
		Endpoint:    oauth2.Endpoint{AuthURL: p.AuthorizeURL, TokenURL: p.TokenURL, AuthStyle: oauth2.AuthStyleInParams},
	}
}

// authURL is the address the person opens to authorize.
func (p Provider) authURL(state, verifier string) string {
	opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier)}
	if p.Agent == credstore.AgentClaude {
		opts = append(opts, oauth2.SetAuthURLParam("code", "true"))
	}
	return p.oauth2().AuthCodeURL(state, opts...)
}

// parse reads what the person pasted: Claude's code#state, OpenAI's
// redirected address.
func (p Provider) parse(pasted string) (Pasted, error) {
	if p.Agent == credstore.AgentClaude {
		return ParseCode(pasted)
	}
	return ParseRedirect(pasted)
}

// ErrCodeRejected is a code the token endpoint refused (expired, used, or
// not issued for this verifier).
var ErrCodeRejected = errs.New(errs.ErrInvalid, "code_rejected", "the provider did not accept the code (it expires quickly and works once); start the connection again")

// ErrProviderUnavailable is a token endpoint that could not be reached or
// failed; the code may be spent, so the flow starts again.
var ErrProviderUnavailable = errs.New(errs.ErrUnavailable, "provider_unavailable", "the provider's token endpoint did not answer; start the connection again in a moment")

type tokenAnswer struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	IDToken      string `json:"id_token"`
	ExpiresIn    int64  `json:"expires_in"`
}

// exchange trades the code for tokens and returns them as the credential's
// secret. A missing expiry counts as expired, so the first use refreshes.
func (p Provider) exchange(ctx context.Context, in Pasted, verifier string, now time.Time) (credstore.Secret, error) {
	fields := map[string]string{
		"grant_type": "authorization_code", "code": in.Code, "client_id": p.ClientID,
		"redirect_uri": p.RedirectURL, "code_verifier": verifier,
	}
	var body []byte
	contentType := "application/x-www-form-urlencoded"
	if p.Agent == credstore.AgentClaude {
		fields["state"] = in.State
		body, _ = json.Marshal(fields)
		contentType = "application/json"
	} else {
		v := url.Values{}
		for k, s := range fields {
			v.Set(k, s)
		}
		body = []byte(v.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.TokenURL, bytes.NewReader(body))
	if err != nil {
		return credstore.Secret{}, fmt.Errorf("code exchange: %w", err)
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Accept", "application/json")
	client := p.HTTP
	if client == nil {
		client = &http.Client{Timeout: 20 * time.Second}
	}
	resp, err := client.Do(req)
	if err != nil {
		return credstore.Secret{}, ErrProviderUnavailable
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	switch {
	case err != nil || resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
		return credstore.Secret{}, ErrProviderUnavailable
	case resp.StatusCode != http.StatusOK:
		return credstore.Secret{}, ErrCodeRejected
	}
	var a tokenAnswer
	if err := json.Unmarshal(raw, &a); err != nil || a.AccessToken == "" || a.RefreshToken == "" {
		return credstore.Secret{}, errs.New(errs.ErrUnavailable, "provider_answer", "the provider's answer held no access and refresh token; start the connection again")
	}
	sec := credstore.Secret{AccessToken: a.AccessToken, RefreshToken: a.RefreshToken, ExpiresAt: now.Add(time.Duration(max(a.ExpiresIn, 0)) * time.Second)}
	if p.Agent == credstore.AgentCodex {
		account, err := AccountID(a.IDToken)
		if err != nil {
			return credstore.Secret{}, err
		}
		sec.IDToken, sec.AccountID = a.IDToken, account
	}
	return sec, nil
}

// ErrNoAccount is an OpenAI answer whose id token names no ChatGPT account.
var ErrNoAccount = errs.New(errs.ErrUnprocessable, "no_chatgpt_account", "the OpenAI sign-in named no ChatGPT account; sign in with a ChatGPT account")

// AccountID reads the ChatGPT account id from an OpenAI id token's
// "https://api.openai.com/auth" claim (chatgpt_account_id). The token is
// parsed, not verified: it came straight from the token endpoint.
func AccountID(idToken string) (string, error) {
	parts := strings.Split(idToken, ".")
	if len(parts) != 3 {
		return "", ErrNoAccount
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return "", ErrNoAccount
	}
	var claims struct {
		Auth struct {
			AccountID string `json:"chatgpt_account_id"`
		} `json:"https://api.openai.com/auth"`
	}
	if json.Unmarshal(payload, &claims) != nil || claims.Auth.AccountID == "" || !tokenChars(claims.Auth.AccountID) {
		return "", ErrNoAccount
	}
	return claims.Auth.AccountID, nil
}
