// Test helpers: an AES-GCM sealer standing in for credstore.Keyring, the
// Linear payloads from testdata/linear, and a gateway-shaped App on a fresh
// database with two members and a Linear connection.
package linear

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tryreplicas/gateway/gateway/sqldb"
	"github.com/tryreplicas/gateway/gateway/sqldb/sqldbtest"
	"github.com/tryreplicas/gateway/identity"
	"github.com/tryreplicas/gateway/integrations/linear/lineartest"
	"github.com/tryreplicas/gateway/testdata"
)

// testSealer seals with AES-256-GCM under the key named current.
type testSealer struct {
	mu      sync.Mutex
	keys    map[string]cipher.AEAD
	current string
}

func newSealer(t testing.TB) *testSealer {
	s := &testSealer{keys: map[string]cipher.AEAD{}}
	s.rotate(t, "k1")
	return s
}

// rotate adds key id and makes it the current one.
func (s *testSealer) rotate(t testing.TB, id string) {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	block, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys[id], s.current = gcm, id
}

func (s *testSealer) Seal(plaintext, aad []byte) (string, []byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	gcm := s.keys[s.current]
	nonce := make([]byte, gcm.NonceSize())
	_, _ = rand.Read(nonce)
	return s.current, gcm.Seal(nonce, nonce, plaintext, aad), nil
}

func (s *testSealer) Open(keyID string, ct, aad []byte) ([]byte, error) {
	s.mu.Lock()
	gcm, ok := s.keys[keyID]
	s.mu.Unlock()
	if !ok || len(ct) < gcm.NonceSize() {
		return nil, fmt.Errorf("unknown key %q or short ciphertext", keyID)
	}
	return gcm.Open(nil, ct[:gcm.NonceSize()], ct[gcm.NonceSize():], aad)
}

// Ids from the testdata payloads.
const (
	appUserID  = "d1e2f3a4-b5c6-4d7e-8f90-a1b2c3d4e5f6"
	linearOrg  = "87ebfd3a-bbcd-477a-9664-a9d2c849c2db"
	adaID      = "8f6a6b9c-3f2e-4d0a-9a64-1d2c3b4a5e6f"
	graceID    = "3b9e2c71-0d4f-4a8e-b6c2-95f1e7a0d3c8"
	oauthToken = "lin_oauth_test"
	apiKey     = "lin_api_test_key"
)

// installed is a fixed table of "org repository" → installation id.
type installed map[string]int64

func (m installed) InstallationFor(_ context.Context, _ sqldb.Querier, orgID, fullName string) (int64, error) {
	return m[orgID+" "+fullName], nil
}

func (m installed) OrgRepositories(_ context.Context, _ sqldb.Querier, orgID string) ([]string, error) {
	var out []string
	for k := range m {
		if org, repo, _ := strings.Cut(k, " "); org == orgID {
			out = append(out, repo)
		}
	}
	sort.Strings(out)
	return out, nil
}

// fixture is testdata/linear/name decoded, for editing.
func fixture(t testing.TB, name string) map[string]any {
	t.Helper()
	raw, err := testdata.FS.ReadFile("linear/" + name)
	if err != nil {
		t.Fatal(err)
	}
	var p map[string]any
	if err := json.Unmarshal(raw, &p); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return p
}

func encode(t testing.TB, p map[string]any) []byte {
	t.Helper()
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// env is an App on a fresh database: org "acme" with members Ada and Grace
// (whose emails are in the payloads), connected to the testdata's Linear
// organization through fake.
type env struct {
	app    *App
	db     *sqldb.DB
	fake   *lineartest.Server
	orgID  string
	ada    identity.User
	grace  identity.User
	sealer *testSealer
}

var sets = []sqldb.Set{Migrations}

// newEnv connects with token (an OAuth token is sent as Bearer, an API key bare).
func newEnv(t *testing.T, db *sqldb.DB, token string) *env {
	t.Helper()
	ctx := context.Background()
	auth := token
	if TokenKind(token) == "oauth" {
		auth = "Bearer " + token
	}
	fake := lineartest.New(auth, appUserID, linearOrg)
	t.Cleanup(fake.Close)
	ids := identity.NewStore()
	org, err := ids.CreateOrg(ctx, db, "acme", "Acme")
	if err != nil {
		t.Fatal(err)
	}
	e := &env{db: db, fake: fake, orgID: org.ID, sealer: newSealer(t)}
	for _, u := range []struct {
		email string
		dst   *identity.User
	}{{"Ada@Example.com", &e.ada}, {"grace@example.com", &e.grace}} {
		if *u.dst, err = ids.EnsureUser(ctx, db, u.email, u.email); err != nil {
			t.Fatal(err)
		}
		if err := ids.AddMember(ctx, db, org.ID, u.dst.ID, identity.RoleMember); err != nil {
			t.Fatal(err)
		}
	}
	e.app = &App{cfg: Config{WebhookSecret: "sec", APIURL: fake.URL, AuthorizeURL: fake.URL + "/oauth/authorize", TokenURL: fake.URL + "/oauth/token", PublicURL: "https://gw.example"},
		db: db, ids: ids, store: NewStore(e.sealer), repos: installed{org.ID + " acme/web": 5, org.ID + " acme/api": 5}, log: sqldbtest.Logger(), http: &http.Client{Timeout: 5 * time.Second}, now: time.Now}
	if _, err := e.app.ConnectToken(ctx, org.ID, "", token, "", "system"); err != nil {
		t.Fatal(err)
	}
	return e
}
