// The composition root: opens the database, runs migrations, builds the
// stores, the job queue and its workers, and the HTTP server from Config.

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/tryreplicas/gateway/credstore"
	"github.com/tryreplicas/gateway/credstore/oauthconnect"
	"github.com/tryreplicas/gateway/credstore/oauthrefresh"
	"github.com/tryreplicas/gateway/gateway/httpapi"
	"github.com/tryreplicas/gateway/gateway/queue"
	"github.com/tryreplicas/gateway/gateway/retention"
	"github.com/tryreplicas/gateway/gateway/secret"
	"github.com/tryreplicas/gateway/gateway/sqldb"
	"github.com/tryreplicas/gateway/gateway/web"
	"github.com/tryreplicas/gateway/identity"
	"github.com/tryreplicas/gateway/integrations/activity"
	"github.com/tryreplicas/gateway/integrations/conversation"
	"github.com/tryreplicas/gateway/integrations/github"
	"github.com/tryreplicas/gateway/integrations/intake"
	"github.com/tryreplicas/gateway/integrations/launch"
	"github.com/tryreplicas/gateway/integrations/linear"
	"github.com/tryreplicas/gateway/integrations/oauthstate"
	"github.com/tryreplicas/gateway/integrations/settingsview"
)

// migrationSets are the schemas of the packages the gateway composes; each
// set brings the sets it needs, and Migrate orders them.
var migrationSets = []sqldb.Set{credstore.Migrations, github.Migrations, linear.Migrations, activity.Migrations}

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

// Close ends the local workspace runners and the message long polls, and
// releases the database.
func (a *app) Close() {
	a.endWorkspaceCalls()
	a.db.Close()
}

// endWorkspaceCalls ends the local workspace runners (they poll this
// gateway) and answers every message long poll at once, so an HTTP
// shutdown is not held up by them.
func (a *app) endWorkspaceCalls() {
	if c, ok := a.launcher.(interface{ Close() }); ok {
		c.Close()
	}
	a.launch.Close()
}

// app is everything a running gateway holds.
type app struct {
	cfg      Config
	log      *slog.Logger
	db       *sqldb.DB
	queue    *queue.Queue
	server   *httpapi.Server
	identity *identity.Store
	keys     *credstore.Keyring
	creds    *credstore.Store
	runtime  *credstore.Runtime
	launch   *launch.Service
	launcher launch.Launcher
	activity *activity.Service
	intake   *intake.Service
	github   *github.App
	linear   *linear.App
}

// chainResolver adapts the credential store to what launch needs: the
// chain's ids, scopes and methods, never secrets, and launch's
// ErrNoCredentials when no agent is configured.
type chainResolver struct{ creds *credstore.Store }

func (r chainResolver) ResolveChain(ctx context.Context, q sqldb.Querier, orgID, userID, agent string) (string, []launch.ChainEntry, error) {
	res, err := r.creds.Resolve(ctx, q, orgID, userID, credstore.Agent(agent))
	if errors.Is(err, credstore.ErrNoCredentials) {
		return "", nil, launch.ErrNoCredentials
	}
	if err != nil {
		return "", nil, err
	}
	chain := make([]launch.ChainEntry, len(res.Chain))
	for i, l := range res.Chain {
		chain[i] = launch.ChainEntry{CredentialID: l.CredentialID, Scope: l.Scope, Method: string(l.Method)}
	}
	return string(res.Agent), chain, nil
}

// credentialEnv gives the exec launcher the agent variables of a
// workspace's current credential.
type credentialEnv struct{ a *app }

func (e credentialEnv) Env(ctx context.Context, workspaceID string) (map[string]string, error) {
	w, err := e.a.launch.Store().Get(ctx, e.a.db, workspaceID)
	if err != nil {
		return nil, err
	}
	issued, err := e.a.runtime.Current(ctx, credstore.Chain{OrgID: w.OrgID, WorkspaceID: w.ID, UserID: w.UserID, Agent: credstore.Agent(w.Agent), IDs: w.CredentialIDs()})
	if err != nil {
		return nil, err
	}
	return issued.Env, nil
}

// newLauncher picks the launcher of REPLICAS_LAUNCHER; none means dry runs.
func newLauncher(cfg Config, env launch.CredentialEnv, log *slog.Logger) (launch.Launcher, error) {
	switch cfg.Launcher.Kind {
	case "local":
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("REPLICAS_LAUNCHER=local: the gateway's executable: %w", err)
		}
		return &launch.LocalLauncher{Dir: filepath.Join(cfg.Database.DataDir, "workspaces"), Command: []string{exe, "workspace", "run"},
			PassEnv: cfg.Launcher.PassEnv, Env: []string{"REPLICAS_IDLE_HIBERNATE=" + cfg.Launcher.IdleHibernate.String()},
			PathPrefix: cfg.Launcher.agentPath, Log: log}, nil
	case "http":
		return &launch.HTTPLauncher{URL: cfg.Launcher.URL, Secret: cfg.Launcher.Secret}, nil
	case "exec":
		return &launch.ExecLauncher{Command: cfg.Launcher.Command, Env: env, PassEnv: cfg.Launcher.PassEnv}, nil
	default:
		return &launch.DryRunLauncher{Dir: filepath.Join(cfg.Database.DataDir, "launches")}, nil
	}
}

// loadKeyring builds the keyring from REPLICAS_ENCRYPTION_KEY (+ previous
// keys); on the embedded default without a key it uses (and on first start
// creates) the key file in the data dir.
func loadKeyring(cfg Config, log *slog.Logger) (*credstore.Keyring, error) {
	current := cfg.Encryption.Key.Bytes()
	if len(current) == 0 {
		var created bool
		var err error
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
		previous = append(previous, k.Bytes())
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
	a.runtime = credstore.NewRuntime(db, a.creds, map[credstore.Agent]oauthrefresh.Endpoint{
		credstore.AgentClaude: {URL: cfg.Agents.ClaudeTokenURL, ClientID: cfg.Agents.ClaudeClientID, Form: cfg.Agents.FormEncoded},
		credstore.AgentCodex:  {URL: cfg.Agents.CodexTokenURL, ClientID: cfg.Agents.CodexClientID, Form: cfg.Agents.FormEncoded},
	}, log)
	q, err := queue.New(db, log, queueOpts)
	if err != nil {
		return nil, err
	}
	a.queue = q
	ghCfg := cfg.GitHub
	ghCfg.StateKey = secret.Secret(keys.DeriveKey("github-oauth-state"))
	a.github = github.New(ghCfg, db, a.identity, q, log)
	launcher, err := newLauncher(cfg, credentialEnv{a}, log)
	if err != nil {
		return nil, err
	}
	a.launcher = launcher
	a.launch = launch.NewService(db, q, chainResolver{a.creds}, a.github.Store(), keys, launcher, cfg.HTTP.PublicURL, log)
	a.launch.TokenTTL = cfg.Workspaces.TokenTTL
	a.intake = intake.NewService(db, q, a.launch, log)
	a.intake.SetBatching(intake.Batching{Wait: cfg.Limits.IntakeBatchWait, Size: cfg.Limits.IntakeBatchSize, Committers: intakeCommitters})
	a.intake.AddSource(a.github)
	a.launch.RegisterReporter(launch.SourceGitHub, a.github)
	linCfg := cfg.Linear
	linCfg.StateKey = secret.Secret(keys.DeriveKey("linear-oauth-state"))
	a.linear = linear.New(linCfg, db, a.identity, keys, a.github.Store(), q, log)
	a.intake.AddSource(a.linear)
	a.launch.RegisterReporter(launch.SourceLinear, a.linear)
	a.activity = activity.NewService(db)
	a.activity.RegisterRelay(launch.SourceGitHub, a.github)
	a.activity.RegisterRelay(launch.SourceLinear, a.linear)
	retention.Register(q, db, log, []retention.Task{
		{Name: "delivery bodies", Purge: intake.BodyRetention(cfg.Limits.DeliveryRetention).Purge},
		{Name: "oauth states", Purge: oauthstate.Purge},
		{Name: "invitations and login links", Purge: identity.PurgeExpiredLinks},
		{Name: "browser sessions", Purge: identity.PurgeExpiredSessions},
		{Name: "github explanations", Purge: a.github.Store().PurgeExplanations},
		{Name: "linear explanations", Purge: a.linear.Store().PurgeExplanations},
	})
	ids := identity.NewService(db, a.identity)
	creds := credstore.NewService(db, a.creds, a.identity)
	connect := oauthconnect.New(db, oauthstate.New(keys.DeriveKey("agent-oauth-state")), a.creds, a.identity,
		oauthconnect.Provider{Agent: credstore.AgentClaude, AuthorizeURL: cfg.Agents.ClaudeAuthorizeURL, TokenURL: cfg.Agents.ClaudeTokenURL,
			ClientID: cfg.Agents.ClaudeClientID, RedirectURL: cfg.Agents.ClaudeRedirectURL, Scopes: cfg.Agents.ClaudeScopes},
		oauthconnect.Provider{Agent: credstore.AgentCodex, AuthorizeURL: cfg.Agents.CodexAuthorizeURL, TokenURL: cfg.Agents.CodexTokenURL,
			ClientID: cfg.Agents.CodexClientID, RedirectURL: cfg.Agents.CodexRedirectURL, Scopes: cfg.Agents.CodexScopes})
	pages := web.Deps{Logger: log, Identity: ids, Workspaces: a.launch, Conversations: conversation.New(a.launch, a.activity, ids), PublicURL: cfg.HTTP.PublicURL,
		Settings: settingsview.New(creds, ids, a.github, a.linear), Credentials: creds, Connect: connect, Accounts: ids, Deliveries: a.intake,
		LinearTeams: a.linear}
	if cfg.GitHub.ClientID != "" {
		pages.GitHub = a.github
	}
	if cfg.Linear.ClientID != "" {
		pages.Linear = a.linear
	}
	a.server = httpapi.New(httpapi.Deps{
		Logger: log, DB: db, Identity: ids, Pages: web.New(pages).Handler(), Credentials: creds,
		WebhookMaxInflight: cfg.Limits.WebhookMaxInflight,
		Webhooks:           map[string]httpapi.WebhookVerifier{"github": a.github, "linear": a.linear},
		Deliveries:         a.intake, Workspaces: a.launch, Messages: a.launch, GitHub: a.github, Linear: a.linear,
		Runtime: a.runtime, Rechainer: a.launch, Git: a.github, Connect: a.github, PublicURL: cfg.HTTP.PublicURL, Activities: a.activity,
	})
	return a, nil
}

// intakeCommitters is how many batches of deliveries commit at once on
// PostgreSQL: while one batch waits for its commit to reach the disk, the
// next is being inserted (measured: see the README's Benchmarks). SQLite
// has one writer, so it always commits one batch at a time.
const intakeCommitters = 2

var queueInsertOnly = queue.Options{InsertOnly: true}

func newLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo}))
}
