// The composition root: opens the database, runs migrations, builds the
// stores, the job queue and its workers, and the HTTP server from Config.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/tryreplicas/gateway/credstore"
	"github.com/tryreplicas/gateway/credstore/oauthrefresh"
	"github.com/tryreplicas/gateway/gateway"
	"github.com/tryreplicas/gateway/gateway/queue"
	"github.com/tryreplicas/gateway/gateway/retention"
	"github.com/tryreplicas/gateway/gateway/sqldb"
	"github.com/tryreplicas/gateway/identity"
	"github.com/tryreplicas/gateway/integrations/github"
	"github.com/tryreplicas/gateway/integrations/intake"
	"github.com/tryreplicas/gateway/integrations/launch"
	"github.com/tryreplicas/gateway/integrations/linear"
	"github.com/tryreplicas/gateway/integrations/oauthstate"
)

// migrationSets are the schemas of the packages the gateway composes; each
// set brings the sets it needs, and Migrate orders them.
var migrationSets = []sqldb.Set{credstore.Migrations, github.Migrations, linear.Migrations}

// openDB opens PostgreSQL when DATABASE_URL is set, else the SQLite file in
// the data dir.
func openDB(ctx context.Context, cfg Config) (*sqldb.DB, error) {
	if cfg.Database.URL != "" {
		return sqldb.OpenPostgres(ctx, cfg.Database.URL.Reveal(), "")
	}
	return sqldb.OpenSQLite(filepath.Join(cfg.Database.DataDir, "replicas.db"))
}

// migrate applies the gateway's and River's migrations.
func migrate(ctx context.Context, db *sqldb.DB, log *slog.Logger) (int, error) {
	n, err := sqldb.Migrate(ctx, db, migrationSets, queue.Migrations(log))
	if err != nil {
		return n, fmt.Errorf("migrate: %w", err)
	}
	return n, nil
}

// openApp opens the configured database, migrates it and wires the gateway
// on it; Close releases the database.
func openApp(ctx context.Context, cfg Config, log *slog.Logger, queueOpts queue.Options) (*app, error) {
	db, err := openDB(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if _, err := migrate(ctx, db, log); err != nil {
		db.Close()
		return nil, err
	}
	a, err := newApp(cfg, db, log, queueOpts)
	if err != nil {
		db.Close()
		return nil, err
	}
	return a, nil
}

// Close releases the database.
func (a *app) Close() { a.db.Close() }

// app is everything a running gateway holds.
type app struct {
	cfg      Config
	log      *slog.Logger
	db       *sqldb.DB
	queue    *queue.Queue
	server   *gateway.Server
	identity *identity.Store
	keys     *credstore.Keyring
	creds    *credstore.Store
	runtime  *credstore.Runtime
	launch   *launch.Service
	intake   *intake.Service
	github   *github.App
	linear   *linear.App
}

// githubConfig turns the environment's GitHub settings into the App's.
func githubConfig(cfg Config) (github.Config, error) {
	g := cfg.GitHub
	out := github.Config{WebhookSecret: g.WebhookSecret.Reveal(), ClientID: g.ClientID, ClientSecret: g.ClientSecret.Reveal(),
		AppSlug: g.AppSlug, BotLogin: g.BotLogin, APIURL: g.APIURL, WebURL: g.WebURL, PublicURL: publicURL(cfg)}
	if g.AppID != "" {
		id, err := strconv.ParseInt(g.AppID, 10, 64)
		if err != nil {
			return out, fmt.Errorf("GITHUB_APP_ID: must be a number")
		}
		out.AppID = id
	}
	if key := g.PrivateKey.Reveal(); key != "" {
		if strings.Contains(key, "PRIVATE KEY") {
			out.PrivateKey = []byte(key)
		} else {
			b, err := os.ReadFile(key)
			if err != nil {
				return out, fmt.Errorf("GITHUB_APP_PRIVATE_KEY: %w", err)
			}
			out.PrivateKey = b
		}
	}
	return out, nil
}

// chainResolver adapts the credential store to what launch needs: the
// chain's ids, scopes and methods, never secrets.
type chainResolver struct{ creds *credstore.Store }

func (r chainResolver) ResolveChain(ctx context.Context, q sqldb.Querier, orgID, userID, agent string) (string, []launch.ChainEntry, error) {
	res, err := r.creds.Resolve(ctx, q, orgID, userID, agent)
	if err != nil {
		return "", nil, err
	}
	chain := make([]launch.ChainEntry, len(res.Chain))
	for i, l := range res.Chain {
		chain[i] = launch.ChainEntry{CredentialID: l.CredentialID, Scope: l.Scope, Method: l.Method}
	}
	return res.Agent, chain, nil
}

// credentialEnv gives the exec launcher the agent variables of a
// workspace's current credential.
type credentialEnv struct{ a *app }

func (e credentialEnv) Env(ctx context.Context, workspaceID string) (map[string]string, error) {
	w, err := e.a.launch.Store().Get(ctx, e.a.db, workspaceID)
	if err != nil {
		return nil, err
	}
	issued, err := e.a.runtime.Current(ctx, credstore.Chain{OrgID: w.OrgID, Agent: w.Agent, IDs: w.CredentialIDs()})
	if err != nil {
		return nil, err
	}
	return issued.Env, nil
}

// newLauncher picks the launcher of REPLICAS_LAUNCHER; none means dry runs.
func newLauncher(cfg Config, env launch.CredentialEnv) launch.Launcher {
	switch cfg.Launcher.Kind {
	case "http":
		return &launch.HTTPLauncher{URL: cfg.Launcher.URL, Secret: cfg.Launcher.Secret.Reveal()}
	case "exec":
		return &launch.ExecLauncher{Command: cfg.Launcher.Command, Env: env, PassEnv: cfg.Launcher.PassEnv}
	default:
		return &launch.DryRunLauncher{Dir: filepath.Join(cfg.Database.DataDir, "launches")}
	}
}

// publicURL is REPLICAS_PUBLIC_URL, or the listen address.
func publicURL(cfg Config) string {
	if cfg.HTTP.PublicURL != "" {
		return strings.TrimRight(cfg.HTTP.PublicURL, "/")
	}
	host, port, _ := net.SplitHostPort(cfg.HTTP.Addr)
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// loadKeyring builds the keyring from REPLICAS_ENCRYPTION_KEY (+ previous
// keys); on the embedded default without a key it uses (and on first start
// creates) the key file in the data dir.
func loadKeyring(cfg Config, log *slog.Logger) (*credstore.Keyring, error) {
	var current []byte
	var err error
	if cfg.Encryption.Key != "" {
		if current, err = credstore.DecodeKey(cfg.Encryption.Key.Reveal()); err != nil {
			return nil, fmt.Errorf("REPLICAS_ENCRYPTION_KEY: %w", err)
		}
	} else {
		var created bool
		if current, created, err = credstore.LoadOrCreateKeyFile(cfg.Database.DataDir); err != nil {
			return nil, err
		}
		if created {
			log.Warn("created a new encryption key file; back it up with the database (or set REPLICAS_ENCRYPTION_KEY)",
				"path", filepath.Join(cfg.Database.DataDir, "encryption.key"))
		}
	}
	var previous [][]byte
	for _, k := range cfg.Encryption.PreviousKeys {
		b, err := credstore.DecodeKey(k.Reveal())
		if err != nil {
			return nil, fmt.Errorf("REPLICAS_PREVIOUS_ENCRYPTION_KEYS: %w", err)
		}
		previous = append(previous, b)
	}
	return credstore.NewKeyring(current, previous...)
}

// newApp wires the gateway on an open, migrated database.
func newApp(cfg Config, db *sqldb.DB, log *slog.Logger, queueOpts queue.Options) (*app, error) {
	a := &app{cfg: cfg, log: log, db: db, identity: identity.NewStore()}
	keys, err := loadKeyring(cfg, log)
	if err != nil {
		return nil, err
	}
	a.keys = keys
	a.creds = credstore.NewStore(keys, a.identity)
	a.runtime = credstore.NewRuntime(db, a.creds, map[string]oauthrefresh.Endpoint{
		"claude": {URL: cfg.Agents.ClaudeTokenURL, ClientID: cfg.Agents.ClaudeClientID, Form: cfg.Agents.FormEncoded},
		"codex":  {URL: cfg.Agents.CodexTokenURL, ClientID: cfg.Agents.CodexClientID, Form: cfg.Agents.FormEncoded},
	}, log)
	q, err := queue.New(db, log, queueOpts)
	if err != nil {
		return nil, err
	}
	a.queue = q
	ghCfg, err := githubConfig(cfg)
	if err != nil {
		return nil, err
	}
	ghCfg.StateKey = keys.DeriveKey("github-oauth-state")
	a.github = github.New(ghCfg, db, a.identity, q, log)
	a.launch = launch.NewService(db, q, chainResolver{a.creds}, a.github.Store(), keys, newLauncher(cfg, credentialEnv{a}), publicURL(cfg), log)
	if a.launch.TokenTTL, err = cfg.Workspaces.TTL(); err != nil {
		return nil, fmt.Errorf("REPLICAS_WORKSPACE_TOKEN_TTL: %w", err)
	}
	a.intake = intake.NewService(db, q, a.launch, log)
	a.intake.AddSource(a.github)
	a.launch.RegisterReporter("github", a.github)
	linCfg := linear.Config{WebhookSecret: cfg.Linear.WebhookSecret.Reveal(), ClientID: cfg.Linear.ClientID,
		ClientSecret: cfg.Linear.ClientSecret.Reveal(), APIURL: cfg.Linear.APIURL, PublicURL: publicURL(cfg), StateKey: keys.DeriveKey("linear-oauth-state")}
	if u, err := url.Parse(cfg.Linear.APIURL); err == nil && u.Host != "api.linear.app" {
		// A self-hosted or test Linear serves OAuth on the API's host.
		linCfg.AuthorizeURL, linCfg.TokenURL = u.Scheme+"://"+u.Host+"/oauth/authorize", u.Scheme+"://"+u.Host+"/oauth/token"
	}
	a.linear = linear.New(linCfg, db, a.identity, keys, a.github.Store(), q, log)
	a.intake.AddSource(a.linear)
	a.launch.RegisterReporter("linear", a.linear)
	keep, err := cfg.Limits.Retention()
	if err != nil {
		return nil, err
	}
	retention.Register(q, db, log, []retention.Task{
		{Name: "delivery bodies", Purge: intake.BodyRetention(keep).Purge},
		{Name: "oauth states", Purge: oauthstate.Purge},
		{Name: "invitations and login links", Purge: identity.PurgeExpiredLinks},
		{Name: "github explanations", Purge: a.github.Store().PurgeExplanations},
		{Name: "linear explanations", Purge: a.linear.Store().PurgeExplanations},
	})
	inflight, err := cfg.Limits.MaxInflight()
	if err != nil {
		return nil, err
	}
	a.server = gateway.New(gateway.Deps{
		Logger: log, DB: db, Identity: a.identity, Credentials: a.creds, WebhookMaxInflight: inflight,
		Webhooks:   map[string]gateway.WebhookVerifier{"github": a.github, "linear": a.linear},
		Deliveries: a.intake, Workspaces: a.launch, GitHub: a.github.Store(), Linear: a.linear,
		Runtime: a.runtime, Rechainer: a.launch, Connect: a.github, PublicURL: publicURL(cfg),
	})
	return a, nil
}

var queueInsertOnly = queue.Options{InsertOnly: true}

func newLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo}))
}
