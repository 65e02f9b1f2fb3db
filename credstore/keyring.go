// Keyring seals secrets at rest with AES-256-GCM. Every ciphertext is stored
// beside the id of the key that sealed it, so the current key can change
// (REPLICAS_ENCRYPTION_KEY) while previous keys still open older rows until
// `admin rotate-key` re-seals them.

package credstore

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
)

// Keyring holds the current key and the previous ones.
type Keyring struct {
	raw     []byte // the current key, only for DeriveKey
	current string
	aeads   map[string]cipher.AEAD
}

// Format prints only the current key's id, under every verb: the keys and
// the ciphers' key schedules never print.
func (k Keyring) Format(f fmt.State, _ rune) {
	fmt.Fprintf(f, "credstore.Keyring{current: %s}", k.current)
}

// LogValue logs only the current key's id.
func (k Keyring) LogValue() slog.Value { return slog.GroupValue(slog.String("current", k.current)) }

// ErrUnknownKey means a ciphertext was sealed by a key the keyring lacks.
var ErrUnknownKey = errors.New("credstore: ciphertext sealed with an unknown key (set REPLICAS_PREVIOUS_ENCRYPTION_KEYS)")

// KeyID names a key without revealing it: the first 8 hex characters of its
// SHA-256.
func KeyID(key []byte) string {
	h := sha256.Sum256(key)
	return hex.EncodeToString(h[:4])
}

// NewKeyring builds a keyring from 32-byte keys.
func NewKeyring(current []byte, previous ...[]byte) (*Keyring, error) {
	k := &Keyring{aeads: map[string]cipher.AEAD{}}
	for i, key := range append([][]byte{current}, previous...) {
		if len(key) != 32 {
			return nil, fmt.Errorf("credstore: key %d is %d bytes, want 32", i, len(key))
		}
		block, err := aes.NewCipher(key)
		if err != nil {
			return nil, fmt.Errorf("credstore: key %d: %w", i, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("credstore: key %d: %w", i, err)
		}
		id := KeyID(key)
		if i == 0 {
			k.current, k.raw = id, key
		}
		if _, dup := k.aeads[id]; !dup {
			k.aeads[id] = aead
		}
	}
	return k, nil
}

// DecodeKey parses a base64 key from the environment.
func DecodeKey(b64 string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(b64))
	if err != nil || len(key) != 32 {
		return nil, errors.New("credstore: an encryption key must be base64 of exactly 32 bytes")
	}
	return key, nil
}

// DeriveKey returns a 32-byte key for purpose (HMAC of the purpose with the
// current key), e.g. to sign OAuth states, without exposing the key itself.
func (k *Keyring) DeriveKey(purpose string) []byte {
	mac := hmac.New(sha256.New, k.raw)
	mac.Write([]byte("replicas:" + purpose))
	return mac.Sum(nil)
}

// CurrentKeyID is the id new ciphertexts carry.
func (k *Keyring) CurrentKeyID() string { return k.current }

// Seal encrypts plaintext with the current key. aad binds the ciphertext to
// its row (e.g. the credential id), so a ciphertext copied to another row
// does not open.
func (k *Keyring) Seal(plaintext, aad []byte) (keyID string, ciphertext []byte, err error) {
	aead := k.aeads[k.current]
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", nil, fmt.Errorf("credstore: nonce: %w", err)
	}
	return k.current, aead.Seal(nonce, nonce, plaintext, aad), nil
}

// Open decrypts a ciphertext sealed by any key of the keyring.
func (k *Keyring) Open(keyID string, ciphertext, aad []byte) ([]byte, error) {
	aead, ok := k.aeads[keyID]
	if !ok {
		return nil, ErrUnknownKey
	}
	n := aead.NonceSize()
	if len(ciphertext) < n {
		return nil, errors.New("credstore: ciphertext too short")
	}
	pt, err := aead.Open(nil, ciphertext[:n], ciphertext[n:], aad)
	if err != nil {
		return nil, fmt.Errorf("credstore: open sealed secret: %w", err)
	}
	return pt, nil
}

// LoadOrCreateKeyFile returns the key in dataDir/encryption.key, creating a
// random one (mode 0600) when the file does not exist. The embedded default
// uses it so that `serve` needs no configuration.
func LoadOrCreateKeyFile(dataDir string) (key []byte, created bool, err error) {
	path := filepath.Join(dataDir, "encryption.key")
	b, err := os.ReadFile(path)
	if err == nil {
		key, err := DecodeKey(string(b))
		if err != nil {
			return nil, false, fmt.Errorf("%s: %w", path, err)
		}
		return key, false, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, false, fmt.Errorf("read key file: %w", err)
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, false, fmt.Errorf("create data dir: %w", err)
	}
	key = make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, false, fmt.Errorf("generate key: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) { // another process won the race
		return LoadOrCreateKeyFile(dataDir)
	}
	if err != nil {
		return nil, false, fmt.Errorf("create key file: %w", err)
	}
	defer f.Close()
	if _, err := f.WriteString(base64.StdEncoding.EncodeToString(key) + "\n"); err != nil {
		return nil, false, fmt.Errorf("write key file: %w", err)
	}
	return key, true, f.Sync()
}
