// admin subcommands: bootstrap an org with its first admin and API token,
// and single-use sign-in links for the operator.

package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
)

func cmdAdmin(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errUsage
	}
	if cmd, ok := adminCommands[args[0]]; ok {
		return cmd(ctx, args[1:], getenv, stdout, stderr)
	}
	fmt.Fprintf(stderr, "unknown admin command %q\n\n%s", args[0], usage)
	return errUsage
}

// adminCommands are the subcommands of admin.
var adminCommands = map[string]command{
	"bootstrap":  cmdBootstrap,
	"login-link": cmdLoginLink,
	"rotate-key": cmdRotateKey,
}

func cmdBootstrap(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("admin bootstrap", flag.ContinueOnError)
	fs.SetOutput(stderr)
	slug := fs.String("org", "", "org slug (required)")
	email := fs.String("email", "", "first admin's email (required)")
	name := fs.String("name", "", "first admin's name")
	asJSON := fs.Bool("json", false, `print {"org_id","user_id","token"}`)
	cfg, err := loadConfig(fs, args, getenv)
	if err != nil {
		return err
	}
	if *slug == "" || *email == "" {
		fmt.Fprintln(stderr, "admin bootstrap: --org and --email are required")
		return errUsage
	}
	a, err := openApp(ctx, cfg, newLogger(io.Discard), queueInsertOnly)
	if err != nil {
		return err
	}
	defer a.Close()
	org, user, token, err := a.identity.Bootstrap(ctx, a.db, *slug, *email, *name)
	if err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(map[string]string{"org_id": org.ID, "user_id": user.ID, "token": token})
	}
	fmt.Fprintf(stdout, "org %s (%s)\nadmin %s (%s)\nAPI token (shown once): %s\n", org.Slug, org.ID, user.Email, user.ID, token)
	return nil
}

// cmdLoginLink prints a single-use sign-in link for an existing user, valid
// for 15 minutes: opened in a browser it signs that browser in; its token
// can also be redeemed for an API token.
func cmdLoginLink(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("admin login-link", flag.ContinueOnError)
	fs.SetOutput(stderr)
	email := fs.String("email", "", "the user's email (required)")
	cfg, err := loadConfig(fs, args, getenv)
	if err != nil {
		return err
	}
	if *email == "" {
		fmt.Fprintln(stderr, "admin login-link: --email is required")
		return errUsage
	}
	a, err := openApp(ctx, cfg, newLogger(io.Discard), queueInsertOnly)
	if err != nil {
		return err
	}
	defer a.Close()
	token, _, err := a.identity.IssueLoginLink(ctx, a.db, *email)
	if err != nil {
		return fmt.Errorf("login-link: %w", err)
	}
	link := loginLinkURL(cfg.HTTP.PublicURL, token)
	fmt.Fprintln(stdout, link)
	fmt.Fprintf(stderr, "single use, valid 15 minutes; open it in a browser to sign in (or redeem it for an API token with: curl -X POST %s)\n", loginLinkRedeemURL(cfg.HTTP.PublicURL, token))
	return nil
}

// loginLinkURL is the page where a sign-in link signs a browser in.
func loginLinkURL(base, token string) string {
	return strings.TrimRight(base, "/") + "/login/link/" + token
}

// loginLinkRedeemURL is where a sign-in link's token is redeemed for an API
// token.
func loginLinkRedeemURL(base, token string) string {
	return strings.TrimRight(base, "/") + "/api/v1/login-links/" + token + "/redeem"
}
