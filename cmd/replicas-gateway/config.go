// Configuration from the environment: every variable and its default are
// listed once in variables; LoadConfig parses them into typed values and
// reports every problem at once, each naming its variable. Secret values
// never print.

package main

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/tryreplicas/gateway/credstore"
	"github.com/tryreplicas/gateway/gateway/secret"
	"github.com/tryreplicas/gateway/integrations/github"
	"github.com/tryreplicas/gateway/integrations/intake"
	"github.com/tryreplicas/gateway/integrations/launch"
	"github.com/tryreplicas/gateway/integrations/linear"
)

// variable is one environment variable and the value a blank one takes.
type variable struct{ name, def string }

// variables are every setting the gateway reads from the environment, with
// their defaults; this list is the only place a default is written.
var variables = []variable{
	{"REPLICAS_ADDR", ":8080"},
	{"REPLICAS_PUBLIC_URL", ""}, // empty: http://<REPLICAS_ADDR>
	{"DATABASE_URL", ""},        // empty: SQLite in REPLICAS_DATA_DIR
	{"REPLICAS_DATA_DIR", "./data"},
	{"REPLICAS_ENCRYPTION_KEY", ""}, // empty with SQLite: a key file in REPLICAS_DATA_DIR
	{"REPLICAS_PREVIOUS_ENCRYPTION_KEYS", ""},
	{"GITHUB_APP_ID", ""},
	{"GITHUB_APP_PRIVATE_KEY", ""},
	{"GITHUB_WEBHOOK_SECRET", ""},
	{"GITHUB_CLIENT_ID", ""},
	{"GITHUB_CLIENT_SECRET", ""},
	{"GITHUB_APP_SLUG", ""},
	{"GITHUB_BOT_LOGIN", "tryreplicas"},
	{"GITHUB_API_URL", "https://api.github.com/"},
	{"GITHUB_WEB_URL", "https://github.com/"},
	{"LINEAR_WEBHOOK_SECRET", ""},
	{"LINEAR_CLIENT_ID", ""},
	{"LINEAR_CLIENT_SECRET", ""},
	{"LINEAR_API_URL", "https://api.linear.app/graphql"},
	{"CLAUDE_OAUTH_TOKEN_URL", "https://platform.claude.com/v1/oauth/token"},
	{"CLAUDE_OAUTH_CLIENT_ID", "9d1c250a-e61b-44d9-88ed-5944d1962f5e"},
	{"CODEX_OAUTH_TOKEN_URL", "https://auth.openai.com/oauth/token"},
	{"CODEX_OAUTH_CLIENT_ID", "app_EMoamEEZ73f0CkXaXp7hrann"},
	{"CLAUDE_OAUTH_AUTHORIZE_URL", "https://claude.ai/oauth/authorize"},
	{"CLAUDE_OAUTH_REDIRECT_URL", "https://console.anthropic.com/oauth/code/callback"},
	{"CLAUDE_OAUTH_SCOPES", "org:create_api_key user:profile user:inference"},
	{"CODEX_OAUTH_AUTHORIZE_URL", "https://auth.openai.com/oauth/authorize"},
	{"CODEX_OAUTH_REDIRECT_URL", "http://localhost:1455/auth/callback"},
	{"REPLICAS_OAUTH_FORM_ENCODED", "false"},
	{"REPLICAS_WEBHOOK_MAX_INFLIGHT", "64"},
	{"REPLICAS_DELIVERY_RETENTION", "30d"},
	{"REPLICAS_INTAKE_BATCH_WAIT", "2ms"},
	{"REPLICAS_INTAKE_BATCH_SIZE", "64"},
	{"REPLICAS_LAUNCHER", ""}, // empty: dry runs
	{"REPLICAS_LAUNCHER_URL", ""},
	{"REPLICAS_LAUNCHER_SECRET", ""},
	{"REPLICAS_WORKSPACE_TOKEN_TTL", "7d"},
	{"REPLICAS_LAUNCHER_PASS_ENV", ""},
	{"REPLICAS_LAUNCHER_COMMAND", ""},
	{"REPLICAS_IDLE_HIBERNATE", "30m"},
}

// Linear's own OAuth pages. Any other LINEAR_API_URL (self-hosted, tests)
// serves OAuth on the API's host, under /oauth/authorize and /oauth/token.
const (
	linearAPIHost      = "api.linear.app"
	linearAuthorizeURL = "https://linear.app/oauth/authorize"
	linearTokenURL     = "https://api.linear.app/oauth/token"
)

// codexScopes are what Connect OpenAI asks for: the sign-in, and a refresh
// token.
var codexScopes = []string{"openid", "profile", "email", "offline_access"}

// Config is the whole configuration, parsed and checked.
type Config struct {
	HTTP       HTTPConfig
	Database   DatabaseConfig
	Encryption EncryptionConfig
	GitHub     github.Config // StateKey is derived from the keyring by the composition root
	Linear     linear.Config // StateKey likewise
	Agents     AgentsConfig
	Launcher   LauncherConfig
	Limits     LimitsConfig
	Workspaces WorkspacesConfig
}

// HTTPConfig is the listener and the public address.
type HTTPConfig struct {
	Addr      string // REPLICAS_ADDR
	PublicURL string // REPLICAS_PUBLIC_URL without a trailing slash, or http://<addr> (localhost for an unspecified host)
}

// DatabaseConfig picks PostgreSQL or the embedded SQLite file.
type DatabaseConfig struct {
	URL     secret.Secret // DATABASE_URL (may hold a password)
	DataDir string        // REPLICAS_DATA_DIR
}

// EncryptionConfig holds the keys that seal stored secrets, decoded.
type EncryptionConfig struct {
	Key          secret.Secret   // REPLICAS_ENCRYPTION_KEY: 32 bytes; empty means the key file in the data dir
	PreviousKeys []secret.Secret // REPLICAS_PREVIOUS_ENCRYPTION_KEYS: 32 bytes each, for rotation
}

// AgentsConfig are the agents' OAuth applications: the token endpoints that
// refresh their credentials, and the authorization pages of Connect Claude
// and Connect OpenAI.
type AgentsConfig struct {
	ClaudeTokenURL     string   // CLAUDE_OAUTH_TOKEN_URL
	ClaudeClientID     string   // CLAUDE_OAUTH_CLIENT_ID
	CodexTokenURL      string   // CODEX_OAUTH_TOKEN_URL
	CodexClientID      string   // CODEX_OAUTH_CLIENT_ID
	FormEncoded        bool     // REPLICAS_OAUTH_FORM_ENCODED=true sends refreshes form-encoded instead of JSON
	ClaudeAuthorizeURL string   // CLAUDE_OAUTH_AUTHORIZE_URL
	ClaudeRedirectURL  string   // CLAUDE_OAUTH_REDIRECT_URL: the page that shows code#state
	ClaudeScopes       []string // CLAUDE_OAUTH_SCOPES, space-separated
	CodexAuthorizeURL  string   // CODEX_OAUTH_AUTHORIZE_URL
	CodexRedirectURL   string   // CODEX_OAUTH_REDIRECT_URL: the address the person copies from their browser
	CodexScopes        []string // codexScopes
}

// LauncherConfig says how workspaces are started.
type LauncherConfig struct {
	Kind    string        // REPLICAS_LAUNCHER: http, exec or empty (dry run)
	URL     string        // REPLICAS_LAUNCHER_URL
	Secret  secret.Secret // REPLICAS_LAUNCHER_SECRET
	Command string        // REPLICAS_LAUNCHER_COMMAND
	PassEnv []string      // REPLICAS_LAUNCHER_PASS_ENV: names of the gateway's environment that exec commands also get
	// IdleHibernate is how long a local workspace waits for a message
	// before it hibernates (REPLICAS_IDLE_HIBERNATE, handed to the runner).
	IdleHibernate time.Duration
	// agentPath goes before PATH for local runners: the demo's and the
	// tests' stand-in agents (never from the environment).
	agentPath string
}

// WorkspacesConfig is the life of workspace tokens.
type WorkspacesConfig struct {
	TokenTTL time.Duration // REPLICAS_WORKSPACE_TOKEN_TTL
}

// LimitsConfig bounds what the gateway holds in memory and keeps on disk.
type LimitsConfig struct {
	WebhookMaxInflight int           // REPLICAS_WEBHOOK_MAX_INFLIGHT: webhook requests received at once
	DeliveryRetention  time.Duration // REPLICAS_DELIVERY_RETENTION: how long delivery bodies are kept
	IntakeBatchWait    time.Duration // REPLICAS_INTAKE_BATCH_WAIT: how long a batch of deliveries waits for more
	IntakeBatchSize    int           // REPLICAS_INTAKE_BATCH_SIZE: deliveries in one transaction at most
}

// LoadConfig reads the environment through getenv (os.Getenv in main) and
// parses it; the error joins every problem, each naming its variable.
func LoadConfig(getenv func(string) string) (Config, error) {
	return parseEnv(readEnv(getenv))
}

// readEnv is the text of every variable, a blank one replaced by its default.
func readEnv(getenv func(string) string) map[string]string {
	env := make(map[string]string, len(variables))
	for _, v := range variables {
		env[v.name] = v.def
		if s := strings.TrimSpace(getenv(v.name)); s != "" {
			env[v.name] = s
		}
	}
	return env
}

// parser turns the variables' text into values, collecting every problem.
type parser struct {
	env  map[string]string
	errs []error
}

func (p *parser) problem(variable, format string, args ...any) {
	p.errs = append(p.errs, fmt.Errorf("%s: %s", variable, fmt.Sprintf(format, args...)))
}

// url is an http(s) URL with a host, or empty when not required.
func (p *parser) url(variable string, required bool) string {
	v := p.env[variable]
	if v == "" {
		if required {
			p.problem(variable, "is required")
		}
		return ""
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		p.problem(variable, "must be an http(s) URL, got %q", v)
		return ""
	}
	return v
}

// key decodes one encryption key: base64 of exactly 32 bytes.
func (p *parser) key(variable, b64, format string, args ...any) secret.Secret {
	k, err := credstore.DecodeKey(b64)
	if err != nil {
		p.problem(variable, format, args...)
		return ""
	}
	return secret.Secret(k)
}

// parseEnv parses the variables' text; the sections check in a fixed order
// so the one line of problems reads the same way every time.
func parseEnv(env map[string]string) (Config, error) {
	p := &parser{env: env}
	var c Config
	c.HTTP = p.http()
	c.Database = p.database()
	c.Encryption = p.encryption(c.Database)
	c.GitHub = p.github(c.HTTP.PublicURL)
	c.Linear = p.linear(c.HTTP.PublicURL)
	c.Agents = AgentsConfig{
		ClaudeTokenURL: p.url("CLAUDE_OAUTH_TOKEN_URL", true), ClaudeClientID: env["CLAUDE_OAUTH_CLIENT_ID"],
		CodexTokenURL: p.url("CODEX_OAUTH_TOKEN_URL", true), CodexClientID: env["CODEX_OAUTH_CLIENT_ID"],
		FormEncoded:        env["REPLICAS_OAUTH_FORM_ENCODED"] == "true",
		ClaudeAuthorizeURL: p.url("CLAUDE_OAUTH_AUTHORIZE_URL", true), ClaudeRedirectURL: p.url("CLAUDE_OAUTH_REDIRECT_URL", true),
		ClaudeScopes:      strings.Fields(env["CLAUDE_OAUTH_SCOPES"]),
		CodexAuthorizeURL: p.url("CODEX_OAUTH_AUTHORIZE_URL", true), CodexRedirectURL: p.url("CODEX_OAUTH_REDIRECT_URL", true),
		CodexScopes: codexScopes,
	}
	c.Launcher = p.launcher()
	c.Limits = p.limits()
	c.Workspaces = p.workspaces()
	return c, errors.Join(p.errs...)
}

func (p *parser) http() HTTPConfig {
	h := HTTPConfig{Addr: p.env["REPLICAS_ADDR"]}
	host, port, err := net.SplitHostPort(h.Addr)
	if err != nil || port == "" {
		p.problem("REPLICAS_ADDR", "must be host:port or :port, got %q", h.Addr)
	}
	if public := p.url("REPLICAS_PUBLIC_URL", false); public != "" {
		h.PublicURL = strings.TrimRight(public, "/")
	} else if p.env["REPLICAS_PUBLIC_URL"] == "" {
		if host == "" || host == "0.0.0.0" || host == "::" {
			host = "localhost"
		}
		h.PublicURL = "http://" + net.JoinHostPort(host, port)
	}
	return h
}

func (p *parser) database() DatabaseConfig {
	d := DatabaseConfig{URL: secret.Secret(p.env["DATABASE_URL"]), DataDir: p.env["REPLICAS_DATA_DIR"]}
	if d.URL == "" {
		if d.DataDir == "" {
			p.problem("REPLICAS_DATA_DIR", "must not be empty")
		}
		return d
	}
	u, err := url.Parse(d.URL.Reveal())
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		p.problem("DATABASE_URL", "must be a postgres:// URL (leave it empty for the embedded SQLite database)")
	}
	return d
}

func (p *parser) encryption(db DatabaseConfig) EncryptionConfig {
	var e EncryptionConfig
	if k := p.env["REPLICAS_ENCRYPTION_KEY"]; k != "" {
		e.Key = p.key("REPLICAS_ENCRYPTION_KEY", k, "must be base64 of exactly 32 bytes")
	} else if db.URL != "" {
		p.problem("REPLICAS_ENCRYPTION_KEY", "is required with PostgreSQL (base64 of 32 random bytes: openssl rand -base64 32)")
	}
	for i, k := range commaList(p.env["REPLICAS_PREVIOUS_ENCRYPTION_KEYS"]) {
		e.PreviousKeys = append(e.PreviousKeys, p.key("REPLICAS_PREVIOUS_ENCRYPTION_KEYS", k, "entry %d must be base64 of exactly 32 bytes", i+1))
	}
	return e
}

func (p *parser) github(publicURL string) github.Config {
	g := github.Config{
		WebhookSecret: secret.Secret(p.env["GITHUB_WEBHOOK_SECRET"]),
		ClientID:      p.env["GITHUB_CLIENT_ID"],
		ClientSecret:  secret.Secret(p.env["GITHUB_CLIENT_SECRET"]),
		AppSlug:       p.env["GITHUB_APP_SLUG"],
		BotLogin:      p.env["GITHUB_BOT_LOGIN"],
		APIURL:        p.url("GITHUB_API_URL", true),
		WebURL:        p.url("GITHUB_WEB_URL", true),
		PublicURL:     publicURL,
	}
	if id := p.env["GITHUB_APP_ID"]; id != "" {
		n, err := strconv.ParseInt(id, 10, 64)
		if err != nil || strings.Trim(id, "0123456789") != "" {
			p.problem("GITHUB_APP_ID", "must be the App's numeric id, got %q", id)
		}
		g.AppID = n
		if p.env["GITHUB_APP_PRIVATE_KEY"] == "" {
			p.problem("GITHUB_APP_PRIVATE_KEY", "is required when GITHUB_APP_ID is set")
		}
	}
	// The private key is PEM text, or the path of a file holding it, read here once.
	if key := p.env["GITHUB_APP_PRIVATE_KEY"]; strings.Contains(key, "PRIVATE KEY") {
		g.PrivateKey = secret.Secret(key)
	} else if key != "" {
		b, err := os.ReadFile(key)
		if err != nil {
			p.problem("GITHUB_APP_PRIVATE_KEY", "is neither PEM text nor a readable file")
		}
		g.PrivateKey = secret.Secret(b)
	}
	if strings.ContainsAny(g.BotLogin, " @") || g.BotLogin == "" {
		p.problem("GITHUB_BOT_LOGIN", "must be a GitHub login without @, got %q", g.BotLogin)
	}
	return g
}

func (p *parser) linear(publicURL string) linear.Config {
	l := linear.Config{
		WebhookSecret: secret.Secret(p.env["LINEAR_WEBHOOK_SECRET"]),
		ClientID:      p.env["LINEAR_CLIENT_ID"],
		ClientSecret:  secret.Secret(p.env["LINEAR_CLIENT_SECRET"]),
		APIURL:        p.url("LINEAR_API_URL", true),
		AuthorizeURL:  linearAuthorizeURL,
		TokenURL:      linearTokenURL,
		PublicURL:     publicURL,
	}
	if u, err := url.Parse(l.APIURL); err == nil && u.Host != linearAPIHost {
		l.AuthorizeURL, l.TokenURL = u.Scheme+"://"+u.Host+"/oauth/authorize", u.Scheme+"://"+u.Host+"/oauth/token"
	}
	return l
}

func (p *parser) launcher() LauncherConfig {
	l := LauncherConfig{Kind: p.env["REPLICAS_LAUNCHER"], Secret: secret.Secret(p.env["REPLICAS_LAUNCHER_SECRET"]),
		Command: p.env["REPLICAS_LAUNCHER_COMMAND"], PassEnv: commaList(p.env["REPLICAS_LAUNCHER_PASS_ENV"])}
	for _, name := range l.PassEnv {
		if err := launch.CheckPassEnv(name); err != nil {
			p.problem("REPLICAS_LAUNCHER_PASS_ENV", "%v", err)
		}
	}
	switch l.Kind {
	case "":
	case "http":
		l.URL = p.url("REPLICAS_LAUNCHER_URL", true)
		if l.Secret == "" {
			p.problem("REPLICAS_LAUNCHER_SECRET", "is required with REPLICAS_LAUNCHER=http")
		}
	case "exec":
		if l.Command == "" {
			p.problem("REPLICAS_LAUNCHER_COMMAND", "is required with REPLICAS_LAUNCHER=exec")
		}
	case "local":
	default:
		p.problem("REPLICAS_LAUNCHER", "must be http, exec or local (or empty for dry runs), got %q", l.Kind)
	}
	v := p.env["REPLICAS_IDLE_HIBERNATE"]
	if d, err := time.ParseDuration(v); err != nil || d <= 0 {
		p.problem("REPLICAS_IDLE_HIBERNATE", "must be a positive Go duration such as 30m, got %q", v)
	} else {
		l.IdleHibernate = d
	}
	return l
}

// minTokenTTL keeps a token alive between the once-a-minute extensions.
const minTokenTTL = 5 * time.Minute

// minRetention is longer than a delivery's processing retries (about 4 h), so
// no delivery loses its body before it is processed.
const minRetention = 24 * time.Hour

func (p *parser) limits() LimitsConfig {
	var l LimitsConfig
	v := p.env["REPLICAS_WEBHOOK_MAX_INFLIGHT"]
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		p.problem("REPLICAS_WEBHOOK_MAX_INFLIGHT", "must be a positive number, got %q", v)
	}
	l.WebhookMaxInflight = n
	v = p.env["REPLICAS_DELIVERY_RETENTION"]
	d, err := parseDays(v)
	if err != nil || d < minRetention {
		p.problem("REPLICAS_DELIVERY_RETENTION", "must be a duration of at least a day, such as 720h or 30d, got %q", v)
	}
	l.DeliveryRetention = d
	v = p.env["REPLICAS_INTAKE_BATCH_WAIT"]
	d, err = time.ParseDuration(v)
	if err != nil || d < 0 || d > maxBatchWait {
		p.problem("REPLICAS_INTAKE_BATCH_WAIT", "must be a duration from 0 to %s, such as 2ms, got %q", maxBatchWait, v)
	}
	l.IntakeBatchWait = d
	v = p.env["REPLICAS_INTAKE_BATCH_SIZE"]
	n, err = strconv.Atoi(v)
	if err != nil || n < 1 || n > intake.MaxBatchSize {
		p.problem("REPLICAS_INTAKE_BATCH_SIZE", "must be a number from 1 to %d, got %q", intake.MaxBatchSize, v)
	}
	l.IntakeBatchSize = n
	return l
}

// maxBatchWait keeps the wait of a batch far below the senders' timeouts
// (GitHub's is 10 s): it is added to a delivery's answer when traffic is low.
const maxBatchWait = time.Second

func (p *parser) workspaces() WorkspacesConfig {
	v := p.env["REPLICAS_WORKSPACE_TOKEN_TTL"]
	d, err := parseDays(v)
	switch {
	case err != nil:
		p.problem("REPLICAS_WORKSPACE_TOKEN_TTL", "must be a duration such as 168h or a number of days such as 7d, got %q", v)
	case d < minTokenTTL:
		p.problem("REPLICAS_WORKSPACE_TOKEN_TTL", "must be at least %s, got %q", minTokenTTL, v)
	}
	return WorkspacesConfig{TokenTTL: d}
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

// oneLine joins a LoadConfig error into the single line printed at start.
func oneLine(err error) string {
	return "configuration: " + strings.ReplaceAll(err.Error(), "\n", "; ")
}
