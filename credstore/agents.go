// The agents, their authentication methods in chain order, and validation of
// what a user submits for each.

package credstore

import (
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/tryreplicas/gateway/gateway/errs"
)

// Agent is a coding agent a workspace runs.
type Agent string

// The agents.
const (
	AgentClaude Agent = "claude"
	AgentCodex  Agent = "codex"
)

// Method is how a credential authenticates with its agent.
type Method string

// The methods.
const (
	MethodOAuth   Method = "oauth"
	MethodAPIKey  Method = "api_key"
	MethodBedrock Method = "bedrock"
)

// agents in the order the fallback agent choice tries them.
var agents = []Agent{AgentClaude, AgentCodex}

// methods per agent, in the order the chain prefers them.
var methods = map[Agent][]Method{
	AgentClaude: {MethodOAuth, MethodAPIKey, MethodBedrock},
	AgentCodex:  {MethodOAuth, MethodAPIKey},
}

// Agents returns the agents in the order the fallback agent choice tries
// them.
func Agents() []Agent { return slices.Clone(agents) }

// Methods returns the agent's methods in the order the chain prefers them;
// none for an unknown agent.
func (a Agent) Methods() []Method { return slices.Clone(methods[a]) }

// Known reports whether a is one of the agents.
func (a Agent) Known() bool {
	_, ok := methods[a]
	return ok
}

// ParseAgent returns the agent named s; an unknown name is an invalid
// request.
func ParseAgent(s string) (Agent, error) {
	if a := Agent(s); a.Known() {
		return a, nil
	}
	return "", errs.Invalid("unknown agent %q (claude or codex)", s)
}

// DisplayName is the agent's name in messages.
func (a Agent) DisplayName() string {
	switch a {
	case AgentClaude:
		return "Claude"
	case AgentCodex:
		return "Codex"
	}
	return string(a)
}

// Secret is what a credential holds. Only the fields of its method are set.
// It is sealed at rest and only ever handed to the workspace whose chain
// holds it.
type Secret struct {
	APIKey          string    `json:"api_key,omitempty"`
	AccessToken     string    `json:"access_token,omitempty"`
	RefreshToken    string    `json:"refresh_token,omitempty"`
	IDToken         string    `json:"id_token,omitempty"`
	AccountID       string    `json:"account_id,omitempty"`
	ExpiresAt       time.Time `json:"expires_at,omitzero"`
	AccessKeyID     string    `json:"access_key_id,omitempty"`
	SecretAccessKey string    `json:"secret_access_key,omitempty"`
	Region          string    `json:"region,omitempty"`
	SessionToken    string    `json:"session_token,omitempty"`
}

var awsRegion = regexp.MustCompile(`^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d$`)

// checkAgentMethod reports an unknown agent or method as not found.
func checkAgentMethod(agent Agent, method Method) error {
	if !agent.Known() {
		return errs.New(errs.ErrNotFound, "not_found", "unknown agent %q (claude or codex)", agent)
	}
	if ms := agent.Methods(); !slices.Contains(ms, method) {
		names := make([]string, len(ms))
		for i, m := range ms {
			names[i] = string(m)
		}
		return errs.New(errs.ErrNotFound, "not_found", "unknown method %q for %s (%s)", method, agent, strings.Join(names, ", "))
	}
	return nil
}

// validate checks a submitted secret and keeps only its method's fields.
// Surrounding whitespace is trimmed; inside, every secret field holds only
// token characters.
func validate(agent Agent, method Method, s Secret) (Secret, error) {
	out, err := validateMethod(agent, method, s)
	if err != nil {
		return Secret{}, err
	}
	if err := checkTokenChars(out); err != nil {
		return Secret{}, err
	}
	return out, nil
}

// isTokenChar reports whether c belongs to the character set of the tokens
// and keys agents and AWS issue (OAuth's b64token: letters, digits and
// - . _ ~ + / =). It has no whitespace and no control characters, so a stored
// secret can never break the variable, header or file it is written into.
func isTokenChar(c rune) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("-._~+/=", c)
}

// checkTokenChars refuses a secret with a character outside isTokenChar in
// any field, naming the field but never echoing the value.
func checkTokenChars(s Secret) error {
	for _, f := range []struct{ name, v string }{
		{"api_key", s.APIKey}, {"access_token", s.AccessToken}, {"refresh_token", s.RefreshToken},
		{"id_token", s.IDToken}, {"account_id", s.AccountID}, {"access_key_id", s.AccessKeyID},
		{"secret_access_key", s.SecretAccessKey}, {"session_token", s.SessionToken},
	} {
		if strings.IndexFunc(f.v, func(c rune) bool { return !isTokenChar(c) }) >= 0 {
			return errs.Invalid("%s may hold only letters, digits and - . _ ~ + / = (no spaces or control characters)", f.name)
		}
	}
	return nil
}

// validateMethod checks the fields the method needs and keeps only those.
func validateMethod(agent Agent, method Method, s Secret) (Secret, error) {
	if err := checkAgentMethod(agent, method); err != nil {
		return Secret{}, err
	}
	trim := func(v string) string { return strings.TrimSpace(v) }
	switch method {
	case MethodAPIKey:
		key := trim(s.APIKey)
		prefix := map[Agent]string{AgentClaude: "sk-ant-", AgentCodex: "sk-"}[agent]
		if key == "" {
			return Secret{}, errs.Invalid("api_key is required")
		}
		if !strings.HasPrefix(key, prefix) {
			name := map[Agent]string{AgentClaude: "an Anthropic", AgentCodex: "an OpenAI"}[agent]
			return Secret{}, errs.Invalid("api_key must be %s API key starting with %q", name, prefix)
		}
		return Secret{APIKey: key}, nil
	case MethodOAuth:
		out := Secret{AccessToken: trim(s.AccessToken), RefreshToken: trim(s.RefreshToken), ExpiresAt: s.ExpiresAt.UTC()}
		var missing []string
		if out.AccessToken == "" {
			missing = append(missing, "access_token")
		}
		if out.RefreshToken == "" {
			missing = append(missing, "refresh_token")
		}
		if out.ExpiresAt.IsZero() {
			missing = append(missing, "expires_at")
		}
		if agent == AgentCodex {
			out.IDToken, out.AccountID = trim(s.IDToken), trim(s.AccountID)
			if out.IDToken == "" {
				missing = append(missing, "id_token")
			}
			if out.AccountID == "" {
				missing = append(missing, "account_id")
			}
		}
		if len(missing) > 0 {
			return Secret{}, errs.Invalid("oauth credentials need %s", strings.Join(missing, ", "))
		}
		return out, nil
	case MethodBedrock:
		out := Secret{AccessKeyID: trim(s.AccessKeyID), SecretAccessKey: trim(s.SecretAccessKey), Region: trim(s.Region), SessionToken: trim(s.SessionToken)}
		var missing []string
		if out.AccessKeyID == "" {
			missing = append(missing, "access_key_id")
		}
		if out.SecretAccessKey == "" {
			missing = append(missing, "secret_access_key")
		}
		if out.Region == "" {
			missing = append(missing, "region")
		}
		if len(missing) > 0 {
			return Secret{}, errs.Invalid("bedrock credentials need %s", strings.Join(missing, ", "))
		}
		if !awsRegion.MatchString(out.Region) {
			return Secret{}, errs.Invalid("region %q is not an AWS region such as us-east-1", out.Region)
		}
		return out, nil
	}
	return Secret{}, errs.Invalid("unknown method %q", method)
}

// hint is the last 4 characters of the secret's identifying part.
func hint(method Method, s Secret) string {
	v := s.APIKey
	switch method {
	case MethodOAuth:
		v = s.AccessToken
	case MethodBedrock:
		v = s.AccessKeyID
	}
	if len(v) <= 4 {
		return "****"
	}
	return v[len(v)-4:]
}
