package linear

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tryreplicas/gateway/gateway/errs"
	"github.com/tryreplicas/gateway/gateway/secret"
)

var now = time.Date(2026, 11, 28, 10, 15, 2, 200_000_000, time.UTC)

func app(webhookSecret string) *App {
	return &App{cfg: Config{WebhookSecret: secret.Secret(webhookSecret)}, now: func() time.Time { return now }}
}

func body(ts time.Time) []byte {
	return []byte(fmt.Sprintf(`{"action":"update","type":"Issue","organizationId":"org-1","webhookId":"same-for-every-delivery","webhookTimestamp":%d,"data":{"id":"i"}}`, ts.UnixMilli()))
}

func hdr(sig, delivery string) http.Header {
	h := http.Header{}
	h.Set(SignatureHeader, sig)
	if delivery != "" {
		h.Set("Linear-Delivery", delivery)
	}
	h.Set("Linear-Event", "Issue")
	h.Set("linear-timestamp", "1") // legacy and unsigned: never trusted
	return h
}

func TestVerify(t *testing.T) {
	t.Parallel()
	good := body(now.Add(-10 * time.Second))
	cases := []struct {
		name   string
		secret string
		h      http.Header
		b      []byte
		kind   error
	}{
		{"good", "sec", hdr(Sign("sec", good), "d-1"), good, nil},
		{"wrong secret", "sec", hdr(Sign("other", good), "d-1"), good, errs.ErrUnauthorized},
		{"not hex", "sec", hdr("zz", "d-1"), good, errs.ErrUnauthorized},
		{"no secret configured", "", hdr(Sign("", good), "d-1"), good, errs.ErrUnauthorized},
		{"stale", "sec", hdr(Sign("sec", body(now.Add(-61*time.Second))), "d-1"), body(now.Add(-61 * time.Second)), errs.ErrUnauthorized},
		{"from the future", "sec", hdr(Sign("sec", body(now.Add(61*time.Second))), "d-1"), body(now.Add(61 * time.Second)), errs.ErrUnauthorized},
		{"no timestamp", "sec", hdr(Sign("sec", []byte(`{"type":"Issue"}`)), "d-1"), []byte(`{"type":"Issue"}`), errs.ErrUnauthorized},
		{"no delivery id", "sec", hdr(Sign("sec", good), ""), good, errs.ErrInvalid},
		{"malformed", "sec", hdr(Sign("sec", []byte("{")), "d-1"), []byte("{"), errs.ErrInvalid},
	}
	for _, tc := range cases {
		d, err := app(tc.secret).Verify(tc.h, tc.b)
		if tc.kind == nil {
			if err != nil || d.DeliveryID != "d-1" || d.Event != "Issue.update" {
				t.Errorf("%s: %+v, %v", tc.name, d, err)
			}
			continue
		}
		if !errors.Is(err, tc.kind) {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.kind)
		}
	}
}

// Linear's own verifier (@linear/sdk) accepts what Sign produces, and
// refuses what Verify refuses for a bad signature or a stale timestamp.
func TestSignatureAgreesWithLinearSDK(t *testing.T) {
	t.Parallel()
	fresh := body(time.Now())
	stale := body(time.Now().Add(-2 * time.Minute))
	script := `import { LinearWebhookClient } from "@linear/sdk/webhooks";
const c = new LinearWebhookClient("peer-secret");
const check = (b, s) => { try { return c.verify(Buffer.from(b), s); } catch (e) { return false; } };
console.log(check(process.env.FRESH, process.env.FRESH_SIG), check(process.env.FRESH, process.env.BAD_SIG), check(process.env.STALE, process.env.STALE_SIG));`
	out := node(t, script, "FRESH="+string(fresh), "FRESH_SIG="+Sign("peer-secret", fresh), "BAD_SIG="+Sign("other", fresh),
		"STALE="+string(stale), "STALE_SIG="+Sign("peer-secret", stale))
	if strings.Fields(out)[0] != "true" || strings.Fields(out)[1] != "false" || strings.Fields(out)[2] != "false" {
		t.Fatalf("@linear/sdk says %q, want true false false", out)
	}
	a := &App{cfg: Config{WebhookSecret: "peer-secret"}, now: time.Now}
	if _, err := a.Verify(hdr(Sign("peer-secret", fresh), "d"), fresh); err != nil {
		t.Fatalf("Verify refuses what Linear's SDK accepts: %v", err)
	}
	if _, err := a.Verify(hdr(Sign("peer-secret", stale), "d"), stale); err == nil {
		t.Fatal("Verify accepts a stale delivery")
	}
}

func FuzzVerify(f *testing.F) {
	f.Add(body(now), "d-1")
	f.Add([]byte(`{"webhookTimestamp":"x"}`), "")
	f.Add([]byte(`[]`), "d")
	f.Fuzz(func(t *testing.T, b []byte, delivery string) {
		a := app("sec")
		d, err := a.Verify(hdr(Sign("sec", b), delivery), b)
		if err == nil && (d.DeliveryID != delivery || delivery == "") {
			t.Fatalf("accepted with delivery id %q", d.DeliveryID)
		}
		if _, err := a.Verify(hdr(Sign("wrong", b), delivery), b); err == nil {
			t.Fatal("accepted a wrong signature")
		}
	})
}

func node(t *testing.T, script string, env ...string) string {
	t.Helper()
	dir, _ := filepath.Abs("../../.ci/node")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@linear", "sdk")); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("npm peers missing: .ci/run must run .ci/peers.sh first")
		}
		t.Skip("npm peers not installed; run bash .ci/peers.sh")
	}
	cmd := exec.Command("node", "--input-type=module", "-e", script)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, out)
	}
	return string(out)
}
