package fanout

import (
	"net/url"
	"slices"
	"strings"
)

// newRedactor returns a replacer of every secret by "[redacted]", longest
// first (so that a secret holding another goes whole), or nil.
func newRedactor(secrets []string) *strings.Replacer {
	var long []string
	for _, s := range secrets {
		if len(s) >= MinSecretLen && !slices.Contains(long, s) {
			long = append(long, s)
		}
	}
	if len(long) == 0 {
		return nil
	}
	slices.SortFunc(long, func(a, b string) int { return len(b) - len(a) })
	pairs := make([]string, 0, 2*len(long))
	for _, s := range long {
		pairs = append(pairs, s, "[redacted]")
	}
	return strings.NewReplacer(pairs...)
}

// Redact returns s with every Config.Secrets value replaced by
// "[redacted]": for messages that leave the process (failure reasons,
// logs, printed results).
func (e *Engine) Redact(s string) string {
	if e.redactor == nil {
		return s
	}
	return e.redactor.Replace(s)
}

// secretNameParts mark an environment variable whose value is a secret.
var secretNameParts = []string{"SECRET", "PASSWORD", "PASSWD", "TOKEN", "CREDENTIAL", "PRIVATE"}

// SecretValues picks from a process's environment (os.Environ's
// NAME=VALUE entries) the values to give Config.Secrets: those of the
// variables whose names say they hold a secret (AWS_SECRET_ACCESS_KEY,
// AWS_SESSION_TOKEN, FANOUT_WEBHOOK_SECRET, ..., any *_KEY but *_KEY_ID),
// and the password of every URL-valued variable (FANOUT_REDIS_URL's).
// Callers add the secrets they hold from elsewhere (flags, files).
func SecretValues(environ []string) []string {
	var out []string
	for _, kv := range environ {
		name, value, ok := strings.Cut(kv, "=")
		if !ok || value == "" {
			continue
		}
		upper := strings.ToUpper(name)
		secret := strings.HasSuffix(upper, "_KEY")
		for _, p := range secretNameParts {
			secret = secret || strings.Contains(upper, p)
		}
		if secret {
			out = append(out, value)
		}
		out = append(out, URLSecrets(value)...)
	}
	return out
}

// URLSecrets returns the password of a URL such as
// redis://user:password@host/, as written and unescaped, or nothing.
func URLSecrets(s string) []string {
	_, rest, ok := strings.Cut(s, "://")
	if !ok {
		return nil
	}
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		rest = rest[:i]
	}
	at := strings.LastIndex(rest, "@")
	if at < 0 {
		return nil
	}
	_, raw, ok := strings.Cut(rest[:at], ":")
	if !ok || raw == "" {
		return nil
	}
	out := []string{raw}
	if pw, err := url.PathUnescape(raw); err == nil && pw != raw {
		out = append(out, pw)
	}
	return out
}
