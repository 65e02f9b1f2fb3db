// Auto-linking on org connect: the GitHub org's members are matched to the
// Replicas org's members by verified email (public profile email, and the
// organization's verified-domain emails where the App may read them), never
// by commit or noreply addresses, never overwriting an oauth/admin link,
// never on an ambiguous match. The report is kept for the integrations view.

package github

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	gh "github.com/google/go-github/v62/github"
	"github.com/riverqueue/river"

	"github.com/tryreplicas/gateway/gateway/errs"
	"github.com/tryreplicas/gateway/gateway/sqldb"
	"github.com/tryreplicas/gateway/identity"
)

// AutoLinkArgs links the members of an installation's account (all of them,
// or Login only for organization member_added).
type AutoLinkArgs struct {
	InstallationID int64  `json:"installation_id"`
	OrgID          string `json:"org_id"`
	Login          string `json:"login,omitempty"`
}

// Kind names the job.
func (AutoLinkArgs) Kind() string { return "github_autolink" }

// Report is the outcome of an auto-link run, by GitHub login.
type Report struct {
	Linked    []string          `json:"linked"`
	Unmatched []string          `json:"unmatched"`
	Conflicts map[string]string `json:"conflicts"` // login → why not linked
	At        time.Time         `json:"at"`
}

type autoLinkWorker struct {
	river.WorkerDefaults[AutoLinkArgs]
	a *App
}

// Timeout: auto-linking reads an organization's members one by one.
func (w *autoLinkWorker) Timeout(*river.Job[AutoLinkArgs]) time.Duration { return slowJobTimeout }

type candidate struct {
	login  string
	id     int64
	emails []string
}

func (w *autoLinkWorker) Work(ctx context.Context, job *river.Job[AutoLinkArgs]) error {
	a := w.a
	in, err := a.store.Installation(ctx, a.db, job.Args.InstallationID)
	if err != nil {
		return err
	}
	c, err := a.client(in.ID)
	if err != nil {
		return err
	}
	logins := []string{job.Args.Login}
	if job.Args.Login == "" {
		if logins, err = members(ctx, c, in); err != nil {
			return rateLimited(err)
		}
	}
	var cands []candidate
	for _, login := range logins {
		u, _, err := c.Users.Get(ctx, login)
		if err != nil {
			return rateLimited(fmt.Errorf("github: read %s: %w", login, err))
		}
		emails := verifiedEmails(u.GetEmail())
		if in.AccountType == "Organization" {
			domain, err := a.domainEmails(ctx, c, in.AccountLogin, login)
			if err != nil {
				return rateLimited(err)
			}
			emails = append(emails, verifiedEmails(domain...)...)
		}
		cands = append(cands, candidate{login: login, id: u.GetID(), emails: emails})
	}
	report := Report{Conflicts: map[string]string{}, At: time.Now().UTC()}
	return a.db.InTx(ctx, func(tx sqldb.Tx) error {
		if err := a.match(ctx, tx, job.Args.OrgID, cands, &report); err != nil {
			return err
		}
		if job.Args.Login != "" { // one new member: merge into the last report
			report = mergeReport(ctx, tx, job.Args.OrgID, report)
		}
		b, _ := json.Marshal(report)
		if _, err := tx.Exec(ctx, `INSERT INTO github_autolink_reports (org_id, report, created_at) VALUES ($1, $2, $3)
			ON CONFLICT (org_id) DO UPDATE SET report = excluded.report, created_at = excluded.created_at`, job.Args.OrgID, string(b), report.At); err != nil {
			return fmt.Errorf("github: store auto-link report: %w", err)
		}
		return nil
	})
}

// match links unambiguous candidates.
func (a *App) match(ctx context.Context, tx sqldb.Tx, orgID string, cands []candidate, r *Report) error {
	users := map[string][]string{} // Replicas user id → logins that matched it
	matched := map[string]string{} // login → user id
	for _, cnd := range cands {
		found := map[string]bool{}
		for _, e := range cnd.emails {
			m, err := a.ids.MemberByEmail(ctx, tx, orgID, e)
			if errors.Is(err, identity.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			found[m.ID] = true
		}
		switch len(found) {
		case 0:
			r.Unmatched = append(r.Unmatched, cnd.login)
		case 1:
			for id := range found {
				matched[cnd.login] = id
				users[id] = append(users[id], cnd.login)
			}
		default:
			r.Conflicts[cnd.login] = "emails match several Replicas users"
		}
	}
	for _, cnd := range cands {
		userID, ok := matched[cnd.login]
		if !ok {
			continue
		}
		if len(users[userID]) > 1 {
			r.Conflicts[cnd.login] = "several GitHub accounts match the same Replicas user"
			continue
		}
		_, err := a.ids.LinkGitHub(ctx, tx, identity.LinkRequest{UserID: userID, GitHubID: cnd.id, Login: cnd.login, Via: identity.LinkedViaOrgConnect, ActorID: "system", OrgID: orgID})
		var conflict *errs.Error
		if errors.Is(err, identity.ErrLinkConflict) && errors.As(err, &conflict) {
			r.Conflicts[cnd.login] = conflict.Message
			continue
		}
		if err != nil {
			return err
		}
		r.Linked = append(r.Linked, cnd.login)
	}
	sort.Strings(r.Linked)
	sort.Strings(r.Unmatched)
	return nil
}

func mergeReport(ctx context.Context, q sqldb.Querier, orgID string, r Report) Report {
	prev, err := LastReport(ctx, q, orgID)
	if err != nil {
		return r
	}
	prev.Linked = append(prev.Linked, r.Linked...)
	prev.Unmatched = append(prev.Unmatched, r.Unmatched...)
	for k, v := range r.Conflicts {
		prev.Conflicts[k] = v
	}
	prev.At = r.At
	return prev
}

// LastReport returns an org's last auto-link report.
func LastReport(ctx context.Context, q sqldb.Querier, orgID string) (Report, error) {
	var raw string
	if err := q.QueryRow(ctx, `SELECT report FROM github_autolink_reports WHERE org_id = $1`, orgID).Scan(&raw); err != nil {
		return Report{}, err
	}
	var r Report
	if err := json.Unmarshal([]byte(raw), &r); err != nil {
		return Report{}, fmt.Errorf("github: decode report: %w", err)
	}
	if r.Conflicts == nil {
		r.Conflicts = map[string]string{}
	}
	return r, nil
}

// verifiedEmails keeps real addresses: never GitHub's noreply ones.
func verifiedEmails(list ...string) []string {
	var out []string
	for _, e := range list {
		e = identity.NormalizeEmail(e)
		if e == "" || !strings.Contains(e, "@") || strings.HasSuffix(e, "noreply.github.com") {
			continue
		}
		out = append(out, e)
	}
	return out
}

// members lists every member of the installation's organization (all pages);
// a user installation has just its account.
func members(ctx context.Context, c *gh.Client, in Installation) ([]string, error) {
	if in.AccountType != "Organization" {
		return []string{in.AccountLogin}, nil
	}
	var out []string
	opts := &gh.ListMembersOptions{ListOptions: gh.ListOptions{PerPage: 100}}
	for {
		page, resp, err := c.Organizations.ListMembers(ctx, in.AccountLogin, opts)
		if err != nil {
			return nil, fmt.Errorf("github: list members of %s: %w", in.AccountLogin, err)
		}
		for _, u := range page {
			out = append(out, u.GetLogin())
		}
		if resp.NextPage == 0 {
			return out, nil
		}
		opts.Page = resp.NextPage
	}
}

// domainEmails reads a member's emails on the organization's verified
// domains through GraphQL; when the App may not read them it returns none.
func (a *App) domainEmails(ctx context.Context, c *gh.Client, org, login string) ([]string, error) {
	q := map[string]any{
		"query":     `query($login: String!, $org: String!) { user(login: $login) { organizationVerifiedDomainEmails(login: $org) } }`,
		"variables": map[string]string{"login": login, "org": org},
	}
	body, _ := json.Marshal(q)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(a.cfg.APIURL, "/")+"/graphql", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Client().Do(req)
	if err != nil {
		return nil, fmt.Errorf("github: graphql: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusNotFound {
		return nil, nil
	}
	if resp.StatusCode >= 300 {
		return nil, fmt.Errorf("github: graphql answered %d", resp.StatusCode)
	}
	var out struct {
		Data struct {
			User struct {
				Emails []string `json:"organizationVerifiedDomainEmails"`
			} `json:"user"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, fmt.Errorf("github: graphql answer: %w", err)
	}
	return out.Data.User.Emails, nil // errors (no permission) leave it empty
}

// rateLimited turns GitHub's rate limiting into a snooze until the reset.
func rateLimited(err error) error {
	var rl *gh.RateLimitError
	if errors.As(err, &rl) {
		return river.JobSnooze(time.Until(rl.Rate.Reset.Time) + time.Second)
	}
	var abuse *gh.AbuseRateLimitError
	if errors.As(err, &abuse) && abuse.RetryAfter != nil {
		return river.JobSnooze(*abuse.RetryAfter)
	}
	return err
}
