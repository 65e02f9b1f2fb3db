package secret_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/tryreplicas/gateway/gateway/secret"
)

func TestSecretNeverPrints(t *testing.T) {
	t.Parallel()
	type holder struct {
		Name   string
		Key    secret.Secret
		Keys   []secret.Secret
		ByName map[string]secret.Secret
		Ptr    *secret.Secret
	}
	s := secret.Secret("hunter2-value")
	h := holder{Name: "n", Key: s, Keys: []secret.Secret{s}, ByName: map[string]secret.Secret{"a": s}, Ptr: &s}
	var outs []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%10.3s"} {
		outs = append(outs, fmt.Sprintf(verb, s), fmt.Sprintf(verb, h), fmt.Sprintf(verb, &h))
	}
	outs = append(outs, fmt.Sprint(s), fmt.Sprintln(h), s.String(), s.GoString())
	j, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("cfg", "key", s, "holder", h)
	slog.New(slog.NewTextHandler(&logged, nil)).Info("cfg", "key", s, "holder", h)
	outs = append(outs, string(j), logged.String())
	for _, out := range outs {
		if strings.Contains(out, "hunter2") || strings.Contains(out, fmt.Sprintf("%x", "hunter2")) {
			t.Errorf("secret printed: %s", out)
		}
	}
	if !strings.Contains(string(j), secret.Redacted) || !strings.Contains(fmt.Sprintf("%+v", h), secret.Redacted) {
		t.Errorf("a set secret must show that it is set: %s", j)
	}
	if s.Reveal() != "hunter2-value" || string(s.Bytes()) != "hunter2-value" {
		t.Errorf("Reveal = %q", s.Reveal())
	}
	if fmt.Sprint(secret.Secret("")) != "" {
		t.Errorf("an unset secret prints %q, want empty", fmt.Sprint(secret.Secret("")))
	}
}
