// Package oauthrefresh sends refresh-token grants to the Claude and Codex
// token endpoints the way their own CLIs do (a JSON body; form-encoded as an
// option) and classifies the outcome: a new token, a rejection (the grant is
// dead: invalid_grant, 400, 401) or an outage (timeout, connection error,
// 5xx). It never retries by itself: after an unknown outcome a replayed
// refresh token counts as reuse at rotating providers and revokes the grant.
package oauthrefresh

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
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

// ErrUnavailable: the outcome is unknown or the provider is down; the
// credential stays usable.
var ErrUnavailable = errors.New("token endpoint unavailable")

type answer struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	IDToken      string `json:"id_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	Error        string `json:"error"`
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
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("%w: reading the answer: %v", ErrUnavailable, err)
	}
	var a answer
	_ = json.Unmarshal(raw, &a) // an error page is classified by its status below
	switch {
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
		return nil, fmt.Errorf("%w: status %d", ErrUnavailable, resp.StatusCode)
	case a.Error == "invalid_grant" || resp.StatusCode == http.StatusBadRequest || resp.StatusCode == http.StatusUnauthorized:
		return nil, &RejectedError{Status: resp.StatusCode, Code: a.Error}
	case resp.StatusCode != http.StatusOK || a.AccessToken == "":
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
