package oauthrefresh

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"sync/atomic"
	"time"

	"golang.org/x/oauth2"
)

// Endpoint is one provider's token endpoint.
type Endpoint struct {
	URL      string
	ClientID string
	// Form sends application/x-www-form-urlencoded instead of JSON.
	Form bool
	HTTP *http.Client
}

// RejectedError: the provider refused the refresh; the credential is dead.
type RejectedError struct {
	Status int
	Code   string
}

func (e *RejectedError) Error() string {
	return fmt.Sprintf("token endpoint rejected the refresh (%d %s)", e.Status, e.Code)
}

// ErrUnavailable: the provider is down or did not take the refresh token;
// the credential stays usable and the same token may be sent again.
var ErrUnavailable = errors.New("token endpoint unavailable")

// ErrOutcomeUnknown: the refresh token was sent and no answer is known; the
// provider may have rotated it, so sending it again may count as reuse.
var ErrOutcomeUnknown = errors.New("token endpoint outcome unknown")

// rejectionCodes are the error codes that mean the refresh token is dead:
// OAuth's invalid_grant and the codes the Codex CLI reads from its provider.
var rejectionCodes = map[string]bool{
	"invalid_grant":             true,
	"refresh_token_reused":      true,
	"refresh_token_expired":     true,
	"refresh_token_invalidated": true,
}

type answer struct {
	AccessToken  string          `json:"access_token"`
	RefreshToken string          `json:"refresh_token"`
	IDToken      string          `json:"id_token"`
	TokenType    string          `json:"token_type"`
	ExpiresIn    int64           `json:"expires_in"`
	Error        json.RawMessage `json:"error"`
	Code         string          `json:"code"`
}

// errorCode reads the error code from `"error":"code"`, from
// `"error":{"code":"code"}` or from a top-level `"code"`.
func (a answer) errorCode() string {
	var s string
	if json.Unmarshal(a.Error, &s) == nil && s != "" {
		return s
	}
	var o struct {
		Code string `json:"code"`
	}
	if json.Unmarshal(a.Error, &o) == nil && o.Code != "" {
		return o.Code
	}
	return a.Code
}

// Refresh exchanges refreshToken for new tokens. The result keeps the old
// refresh token when the answer carries none; Extra("id_token") holds a new
// id token when there is one.
func (e Endpoint) Refresh(ctx context.Context, refreshToken string) (*oauth2.Token, error) {
	fields := map[string]string{"grant_type": "refresh_token", "refresh_token": refreshToken, "client_id": e.ClientID}
	var body []byte
	contentType := "application/json"
	if e.Form {
		v := url.Values{}
		for k, s := range fields {
			v.Set(k, s)
		}
		body, contentType = []byte(v.Encode()), "application/x-www-form-urlencoded"
	} else {
		body, _ = json.Marshal(fields)
	}
	// Once the whole request is written the provider may act on it.
	var sent atomic.Bool
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{WroteRequest: func(i httptrace.WroteRequestInfo) {
		if i.Err == nil {
			sent.Store(true)
		}
	}})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.URL, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("refresh request: %w", err)
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Accept", "application/json")
	client := e.HTTP
	if client == nil {
		client = &http.Client{Timeout: 20 * time.Second}
	}
	resp, err := client.Do(req)
	if err != nil {
		if sent.Load() {
			return nil, fmt.Errorf("%w: no answer after sending: %v", ErrOutcomeUnknown, err)
		}
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("%w: reading the %d answer: %v", ErrOutcomeUnknown, resp.StatusCode, err)
	}
	var a answer
	_ = json.Unmarshal(raw, &a) // an error page is classified by its status below
	code := a.errorCode()
	switch {
	case resp.StatusCode == http.StatusBadGateway || resp.StatusCode == http.StatusGatewayTimeout:
		// A proxy lost the provider's answer: it may have rotated the token.
		return nil, fmt.Errorf("%w: status %d", ErrOutcomeUnknown, resp.StatusCode)
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
		return nil, fmt.Errorf("%w: status %d", ErrUnavailable, resp.StatusCode)
	case rejectionCodes[code] || resp.StatusCode == http.StatusBadRequest || resp.StatusCode == http.StatusUnauthorized:
		return nil, &RejectedError{Status: resp.StatusCode, Code: code}
	case resp.StatusCode == http.StatusOK && a.AccessToken == "":
		// The provider accepted the grant but its answer is unreadable.
		return nil, fmt.Errorf("%w: a 200 answer without an access token", ErrOutcomeUnknown)
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("%w: unexpected answer %d", ErrUnavailable, resp.StatusCode)
	}
	tok := &oauth2.Token{AccessToken: a.AccessToken, TokenType: a.TokenType, RefreshToken: a.RefreshToken}
	if tok.RefreshToken == "" {
		tok.RefreshToken = refreshToken
	}
	if a.ExpiresIn > 0 {
		tok.Expiry = time.Now().Add(time.Duration(a.ExpiresIn) * time.Second).UTC()
	}
	if a.IDToken != "" {
		tok = tok.WithExtra(map[string]any{"id_token": a.IDToken})
	}
	return tok, nil
}

// IsRejected reports a refused refresh.
func IsRejected(err error) bool {
	var r *RejectedError
	return errors.As(err, &r)
}
