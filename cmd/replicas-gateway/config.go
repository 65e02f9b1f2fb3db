// Configuration from the environment (SPEC 3.2): one struct per dependency,
// each with Validate, and Config.Validate reporting every problem at once on
// one line that names the variables. Secret values never print.
package main

import (
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/tryreplicas/gateway/integrations/launch"
)

// Secret is a configuration value that must never be printed or logged.
type Secret string

func (s Secret) String() string               { return redact(s) }
func (s Secret) GoString() string             { return redact(s) }
func (s Secret) LogValue() slog.Value         { return slog.StringValue(redact(s)) }
func (s Secret) MarshalText() ([]byte, error) { return []byte(redact(s)), nil }

// Reveal returns the value for the one place that uses it.
func (s Secret) Reveal() string { return string(s) }

func redact(s Secret) string {
	if s == "" {
		return ""
	}
	return "[redacted]"
}

// Config is the whole configuration.
type Config struct {
	HTTP       HTTPConfig
	Database   DatabaseConfig
	Encryption EncryptionConfig
	GitHub     GitHubConfig
	Linear     LinearConfig
	Agents     AgentsConfig
	Launcher   LauncherConfig
	Limits     LimitsConfig
	Workspaces WorkspacesConfig
}

// HTTPConfig is the listener and the public address.
type HTTPConfig struct {
	Addr      string // REPLICAS_ADDR
	PublicURL string // REPLICAS_PUBLIC_URL
}

// DatabaseConfig picks PostgreSQL or the embedded SQLite file.
type DatabaseConfig struct {
	URL     Secret // DATABASE_URL (may hold a password)
	DataDir string // REPLICAS_DATA_DIR
}

// EncryptionConfig holds the key that seals stored secrets.
type EncryptionConfig struct {
	Key          Secret   // REPLICAS_ENCRYPTION_KEY, base64 of 32 bytes
	PreviousKeys []Secret // REPLICAS_PREVIOUS_ENCRYPTION_KEYS, comma-separated, for rotation
}

// GitHubConfig is the GitHub App.
type GitHubConfig struct {
	AppID         string // GITHUB_APP_ID
	PrivateKey    Secret // GITHUB_APP_PRIVATE_KEY: PEM text or a file path
	WebhookSecret Secret // GITHUB_WEBHOOK_SECRET
	ClientID      string // GITHUB_CLIENT_ID
	ClientSecret  Secret // GITHUB_CLIENT_SECRET
	AppSlug       string // GITHUB_APP_SLUG
	BotLogin      string // GITHUB_BOT_LOGIN
	APIURL        string // GITHUB_API_URL
	WebURL        string // GITHUB_WEB_URL
}

// LinearConfig is the Linear app.
type LinearConfig struct {
	WebhookSecret Secret // LINEAR_WEBHOOK_SECRET
	ClientID      string // LINEAR_CLIENT_ID
	ClientSecret  Secret // LINEAR_CLIENT_SECRET
	APIURL        string // LINEAR_API_URL
}

// AgentsConfig are the token endpoints that refresh agent OAuth credentials.
type AgentsConfig struct {
	ClaudeTokenURL string // CLAUDE_OAUTH_TOKEN_URL
	ClaudeClientID string // CLAUDE_OAUTH_CLIENT_ID
	CodexTokenURL  string // CODEX_OAUTH_TOKEN_URL
	CodexClientID  string // CODEX_OAUTH_CLIENT_ID
	FormEncoded    bool   // REPLICAS_OAUTH_FORM_ENCODED=true sends refreshes form-encoded instead of JSON
}

// LauncherConfig says how workspaces are started.
type LauncherConfig struct {
	Kind    string   // REPLICAS_LAUNCHER: http, exec or empty (dry run)
	URL     string   // REPLICAS_LAUNCHER_URL
	Secret  Secret   // REPLICAS_LAUNCHER_SECRET
	Command string   // REPLICAS_LAUNCHER_COMMAND
	PassEnv []string // REPLICAS_LAUNCHER_PASS_ENV: comma-separated names of the gateway's environment that exec commands also get
}

// WorkspacesConfig is the life of workspace tokens.
type WorkspacesConfig struct {
	TokenTTL string // REPLICAS_WORKSPACE_TOKEN_TTL: a Go duration ("168h") or whole days ("7d")
}

// LimitsConfig bounds what the gateway holds in memory and keeps on disk.
type LimitsConfig struct {
	WebhookMaxInflight string // REPLICAS_WEBHOOK_MAX_INFLIGHT: webhook requests received at once
	DeliveryRetention  string // REPLICAS_DELIVERY_RETENTION: how long delivery bodies are kept, a Go duration or days ("30d")
}

func envOr(getenv func(string) string, key, def string) string {
	if v := strings.TrimSpace(getenv(key)); v != "" {
		return v
	}
	return def
}

// LoadConfig reads the environment through getenv (os.Getenv in main).
func LoadConfig(getenv func(string) string) Config {
	var prev []Secret
	for _, k := range commaList(getenv("REPLICAS_PREVIOUS_ENCRYPTION_KEYS")) {
		prev = append(prev, Secret(k))
	}
	return Config{
		HTTP: HTTPConfig{
			Addr:      envOr(getenv, "REPLICAS_ADDR", ":8080"),
			PublicURL: envOr(getenv, "REPLICAS_PUBLIC_URL", ""),
		},
		Database: DatabaseConfig{
			URL:     Secret(envOr(getenv, "DATABASE_URL", "")),
			DataDir: envOr(getenv, "REPLICAS_DATA_DIR", "./data"),
		},
		Encryption: EncryptionConfig{Key: Secret(envOr(getenv, "REPLICAS_ENCRYPTION_KEY", "")), PreviousKeys: prev},
		GitHub: GitHubConfig{
			AppID:         envOr(getenv, "GITHUB_APP_ID", ""),
			PrivateKey:    Secret(envOr(getenv, "GITHUB_APP_PRIVATE_KEY", "")),
			WebhookSecret: Secret(envOr(getenv, "GITHUB_WEBHOOK_SECRET", "")),
			ClientID:      envOr(getenv, "GITHUB_CLIENT_ID", ""),
			ClientSecret:  Secret(envOr(getenv, "GITHUB_CLIENT_SECRET", "")),
			AppSlug:       envOr(getenv, "GITHUB_APP_SLUG", ""),
			BotLogin:      envOr(getenv, "GITHUB_BOT_LOGIN", "tryreplicas"),
			APIURL:        envOr(getenv, "GITHUB_API_URL", "https://api.github.com/"),
			WebURL:        envOr(getenv, "GITHUB_WEB_URL", "https://github.com/"),
		},
		Linear: LinearConfig{
			WebhookSecret: Secret(envOr(getenv, "LINEAR_WEBHOOK_SECRET", "")),
			ClientID:      envOr(getenv, "LINEAR_CLIENT_ID", ""),
			ClientSecret:  Secret(envOr(getenv, "LINEAR_CLIENT_SECRET", "")),
			APIURL:        envOr(getenv, "LINEAR_API_URL", "https://api.linear.app/graphql"),
		},
		Agents: AgentsConfig{
			ClaudeTokenURL: envOr(getenv, "CLAUDE_OAUTH_TOKEN_URL", "https://platform.claude.com/v1/oauth/token"),
			ClaudeClientID: envOr(getenv, "CLAUDE_OAUTH_CLIENT_ID", "9d1c250a-e61b-44d9-88ed-5944d1962f5e"),
			CodexTokenURL:  envOr(getenv, "CODEX_OAUTH_TOKEN_URL", "https://auth.openai.com/oauth/token"),
			CodexClientID:  envOr(getenv, "CODEX_OAUTH_CLIENT_ID", "app_EMoamEEZ73f0CkXaXp7hrann"),
			FormEncoded:    envOr(getenv, "REPLICAS_OAUTH_FORM_ENCODED", "") == "true",
		},
		Launcher: LauncherConfig{
			Kind:    envOr(getenv, "REPLICAS_LAUNCHER", ""),
			URL:     envOr(getenv, "REPLICAS_LAUNCHER_URL", ""),
			Secret:  Secret(envOr(getenv, "REPLICAS_LAUNCHER_SECRET", "")),
			Command: envOr(getenv, "REPLICAS_LAUNCHER_COMMAND", ""),
			PassEnv: commaList(getenv("REPLICAS_LAUNCHER_PASS_ENV")),
		},
		Limits: LimitsConfig{
			WebhookMaxInflight: envOr(getenv, "REPLICAS_WEBHOOK_MAX_INFLIGHT", "64"),
			DeliveryRetention:  envOr(getenv, "REPLICAS_DELIVERY_RETENTION", "30d"),
		},
		Workspaces: WorkspacesConfig{TokenTTL: envOr(getenv, "REPLICAS_WORKSPACE_TOKEN_TTL", "7d")},
	}
}

// commaList splits a comma-separated value, dropping blanks.
func commaList(v string) []string {
	var out []string
	for _, item := range strings.Split(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// Validate reports every problem, each naming its variable.
func (c Config) Validate() error {
	return errors.Join(c.HTTP.Validate(), c.Database.Validate(), c.Encryption.Validate(c.Database),
		c.GitHub.Validate(), c.Linear.Validate(), c.Agents.Validate(), c.Launcher.Validate(), c.Limits.Validate(),
		c.Workspaces.Validate())
}

func problem(variable, format string, args ...any) error {
	return fmt.Errorf("%s: %s", variable, fmt.Sprintf(format, args...))
}

func checkURL(variable, v string, required bool) error {
	if v == "" {
		if required {
			return problem(variable, "is required")
		}
		return nil
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return problem(variable, "must be an http(s) URL, got %q", v)
	}
	return nil
}

func (h HTTPConfig) Validate() error {
	var errs []error
	if _, port, err := net.SplitHostPort(h.Addr); err != nil || port == "" {
		errs = append(errs, problem("REPLICAS_ADDR", "must be host:port or :port, got %q", h.Addr))
	}
	errs = append(errs, checkURL("REPLICAS_PUBLIC_URL", h.PublicURL, false))
	return errors.Join(errs...)
}

func (d DatabaseConfig) Validate() error {
	if d.URL == "" {
		if d.DataDir == "" {
			return problem("REPLICAS_DATA_DIR", "must not be empty")
		}
		return nil
	}
	u, err := url.Parse(d.URL.Reveal())
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return problem("DATABASE_URL", "must be a postgres:// URL (leave it empty for the embedded SQLite database)")
	}
	return nil
}

func (e EncryptionConfig) Validate(db DatabaseConfig) error {
	var errs []error
	if e.Key == "" && db.URL != "" {
		errs = append(errs, problem("REPLICAS_ENCRYPTION_KEY", "is required with PostgreSQL (base64 of 32 random bytes: openssl rand -base64 32)"))
	}
	if e.Key != "" && !validKey(e.Key) {
		errs = append(errs, problem("REPLICAS_ENCRYPTION_KEY", "must be base64 of exactly 32 bytes"))
	}
	for i, k := range e.PreviousKeys {
		if !validKey(k) {
			errs = append(errs, problem("REPLICAS_PREVIOUS_ENCRYPTION_KEYS", "entry %d must be base64 of exactly 32 bytes", i+1))
		}
	}
	return errors.Join(errs...)
}

func validKey(k Secret) bool {
	b, err := base64.StdEncoding.DecodeString(k.Reveal())
	return err == nil && len(b) == 32
}

func (g GitHubConfig) Validate() error {
	var errs []error
	errs = append(errs, checkURL("GITHUB_API_URL", g.APIURL, true), checkURL("GITHUB_WEB_URL", g.WebURL, true))
	if g.AppID != "" && strings.Trim(g.AppID, "0123456789") != "" {
		errs = append(errs, problem("GITHUB_APP_ID", "must be the App's numeric id, got %q", g.AppID))
	}
	if g.AppID != "" && g.PrivateKey == "" {
		errs = append(errs, problem("GITHUB_APP_PRIVATE_KEY", "is required when GITHUB_APP_ID is set"))
	}
	if g.PrivateKey != "" {
		pem := g.PrivateKey.Reveal()
		if !strings.Contains(pem, "PRIVATE KEY") {
			if _, err := os.Stat(pem); err != nil {
				errs = append(errs, problem("GITHUB_APP_PRIVATE_KEY", "is neither PEM text nor a readable file"))
			}
		}
	}
	if strings.ContainsAny(g.BotLogin, " @") || g.BotLogin == "" {
		errs = append(errs, problem("GITHUB_BOT_LOGIN", "must be a GitHub login without @, got %q", g.BotLogin))
	}
	return errors.Join(errs...)
}

func (l LinearConfig) Validate() error {
	return checkURL("LINEAR_API_URL", l.APIURL, true)
}

func (a AgentsConfig) Validate() error {
	return errors.Join(checkURL("CLAUDE_OAUTH_TOKEN_URL", a.ClaudeTokenURL, true), checkURL("CODEX_OAUTH_TOKEN_URL", a.CodexTokenURL, true))
}

func (l LauncherConfig) Validate() error {
	var errs []error
	for _, name := range l.PassEnv {
		if err := launch.CheckPassEnv(name); err != nil {
			errs = append(errs, problem("REPLICAS_LAUNCHER_PASS_ENV", "%v", err))
		}
	}
	switch l.Kind {
	case "":
	case "http":
		errs = append(errs, checkURL("REPLICAS_LAUNCHER_URL", l.URL, true))
		if l.Secret == "" {
			errs = append(errs, problem("REPLICAS_LAUNCHER_SECRET", "is required with REPLICAS_LAUNCHER=http"))
		}
	case "exec":
		if l.Command == "" {
			errs = append(errs, problem("REPLICAS_LAUNCHER_COMMAND", "is required with REPLICAS_LAUNCHER=exec"))
		}
	default:
		errs = append(errs, problem("REPLICAS_LAUNCHER", "must be http or exec (or empty for dry runs), got %q", l.Kind))
	}
	return errors.Join(errs...)
}

// minTokenTTL keeps a token alive between the once-a-minute extensions.
const minTokenTTL = 5 * time.Minute

func (w WorkspacesConfig) Validate() error {
	if _, err := w.TTL(); err != nil {
		return problem("REPLICAS_WORKSPACE_TOKEN_TTL", "%v", err)
	}
	return nil
}

// TTL parses TokenTTL: a Go duration ("168h", "90m") or whole days ("7d"),
// at least minTokenTTL.
func (w WorkspacesConfig) TTL() (time.Duration, error) {
	d, err := parseDays(w.TokenTTL)
	if err != nil {
		return 0, fmt.Errorf("must be a duration such as 168h or a number of days such as 7d, got %q", w.TokenTTL)
	}
	if d < minTokenTTL {
		return 0, fmt.Errorf("must be at least %s, got %q", minTokenTTL, w.TokenTTL)
	}
	return d, nil
}

func (l LimitsConfig) Validate() error {
	var errs []error
	if _, err := l.MaxInflight(); err != nil {
		errs = append(errs, problem("REPLICAS_WEBHOOK_MAX_INFLIGHT", "%v", err))
	}
	if _, err := l.Retention(); err != nil {
		errs = append(errs, problem("REPLICAS_DELIVERY_RETENTION", "%v", err))
	}
	return errors.Join(errs...)
}

// MaxInflight parses WebhookMaxInflight: a positive number.
func (l LimitsConfig) MaxInflight() (int, error) {
	n, err := strconv.Atoi(l.WebhookMaxInflight)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("must be a positive number, got %q", l.WebhookMaxInflight)
	}
	return n, nil
}

// Retention parses DeliveryRetention: at least a day, longer than a
// delivery's processing retries (about 4 h), so no delivery loses its body
// before it is processed.
func (l LimitsConfig) Retention() (time.Duration, error) {
	d, err := parseDays(l.DeliveryRetention)
	if err != nil || d < 24*time.Hour {
		return 0, fmt.Errorf("must be a duration of at least a day, such as 720h or 30d, got %q", l.DeliveryRetention)
	}
	return d, nil
}

// parseDays parses a Go duration ("720h") or a whole number of days ("30d").
func parseDays(v string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(v, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n <= 0 || n > 36500 {
			return 0, fmt.Errorf("bad number of days %q", v)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	return time.ParseDuration(v)
}

// oneLine joins a Validate error into the single line printed at start.
func oneLine(err error) string {
	return "configuration: " + strings.ReplaceAll(err.Error(), "\n", "; ")
}
