package redisqueue

import (
	"cmp"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/redis/go-redis/v9"
)

// Schemes of a Redis Cluster URL: the seed nodes separated by commas.
const (
	clusterScheme    = "redis+cluster"
	clusterTLSScheme = "rediss+cluster"
)

// dial makes the client of a Config.URL: a single server for
// redis://host:port[/db] and rediss://, a Redis Cluster for
// redis+cluster://host:port,host:port,... (rediss+cluster:// for TLS) and
// for go-redis's own cluster form, a redis:// or rediss:// URL with more
// seed nodes in addr= parameters (redis://h1:p1?addr=h2:p2). It returns
// the URL's password and user, which New checks with AUTH.
func dial(raw string, sz sizes) (c redis.UniversalClient, user, password string, err error) {
	scheme, _, _ := strings.Cut(raw, "://")
	switch scheme {
	case clusterScheme, clusterTLSScheme:
		std, err := clusterURL(raw)
		if err != nil {
			return nil, "", "", err
		}
		return dialCluster(std, sz)
	case "redis", "rediss":
		u, err := url.Parse(raw)
		if err != nil {
			// The url package's error quotes the URL, password included.
			return nil, "", "", errors.New("Config.URL is not a valid URL")
		}
		if u.Query().Has("addr") {
			return dialCluster(raw, sz)
		}
		opts, err := redis.ParseURL(raw)
		if err != nil {
			return nil, "", "", fmt.Errorf("Config.URL %s: %w", u.Redacted(), err)
		}
		// Honour the caller's deadlines (heartbeats time out within a
		// fraction of the lease even when Redis hangs).
		opts.ContextTimeoutEnabled = true
		opts.PoolSize = cmp.Or(opts.PoolSize, sz.pool)
		opts.ReadBufferSize = cmp.Or(opts.ReadBufferSize, sz.buffer)
		opts.WriteBufferSize = cmp.Or(opts.WriteBufferSize, sz.buffer)
		opts.PipelinePoolSize = cmp.Or(opts.PipelinePoolSize, pipelinePoolSize)
		opts.PipelineReadBufferSize = cmp.Or(opts.PipelineReadBufferSize, opts.ReadBufferSize)
		opts.PipelineWriteBufferSize = cmp.Or(opts.PipelineWriteBufferSize, opts.WriteBufferSize)
		return redis.NewClient(opts), opts.Username, opts.Password, nil
	}
	return nil, "", "", fmt.Errorf("Config.URL %s: scheme %q is not redis, rediss, redis+cluster or rediss+cluster", redacted(raw), scheme)
}

// clusterURL turns redis+cluster://[user:password@]h1:p1,h2:p2[/0][?opts]
// into go-redis's cluster form, redis://[user:password@]h1:p1?addr=h2:p2.
// A cluster has one database, 0.
func clusterURL(raw string) (string, error) {
	scheme, rest, _ := strings.Cut(raw, "://")
	authority, tail := rest, ""
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		authority, tail = rest[:i], rest[i:]
	}
	userinfo, hosts := "", authority
	if at := strings.LastIndex(authority, "@"); at >= 0 {
		userinfo, hosts = authority[:at+1], authority[at+1:]
	}
	path, query, _ := strings.Cut(tail, "?")
	if path != "" && path != "/" && path != "/0" {
		return "", fmt.Errorf("Config.URL %s: a Redis Cluster has only database 0, not %q", redacted(raw), path)
	}
	var seeds []string
	for h := range strings.SplitSeq(hosts, ",") {
		if h = strings.TrimSpace(h); h != "" {
			seeds = append(seeds, h)
		}
	}
	if len(seeds) == 0 {
		return "", fmt.Errorf("Config.URL %s: no cluster node (want %s://host:port,host:port,...)", redacted(raw), scheme)
	}
	std := strings.TrimSuffix(scheme, "+cluster") + "://" + userinfo + seeds[0] + "?" + query
	for _, s := range seeds[1:] {
		std += "&addr=" + url.QueryEscape(s)
	}
	if _, err := url.Parse(std); err != nil {
		return "", fmt.Errorf("Config.URL %s is not a valid cluster URL", redacted(raw))
	}
	return std, nil
}

// dialCluster makes a cluster client of a URL in go-redis's cluster form.
func dialCluster(std string, sz sizes) (redis.UniversalClient, string, string, error) {
	opts, err := redis.ParseClusterURL(std)
	if err != nil {
		return nil, "", "", fmt.Errorf("Config.URL %s: %w", redacted(std), err)
	}
	if opts.TLSConfig != nil {
		// go-redis names the first seed as every node's TLS server name;
		// without one, each node is verified under its own host name.
		opts.TLSConfig.ServerName = ""
	}
	opts.ContextTimeoutEnabled = true
	// The Cluster client has no pipeline pool unless its buffers are set.
	opts.PoolSize = cmp.Or(opts.PoolSize, sz.pool)
	opts.ReadBufferSize = cmp.Or(opts.ReadBufferSize, sz.buffer)
	opts.WriteBufferSize = cmp.Or(opts.WriteBufferSize, sz.buffer)
	return redis.NewClusterClient(opts), opts.Username, opts.Password, nil
}

// sizes is how the client made from Config.URL is sized.
type sizes struct {
	pool   int // connections; 0: go-redis's default
	buffer int // read and write buffer of a connection
}

func (cfg Config) sizes() sizes {
	return sizes{pool: cfg.PoolSize, buffer: cmp.Or(cfg.BufferSize, DefaultBufferSize)}
}

// redacted is raw with its password replaced by "xxxxx", for errors.
func redacted(raw string) string {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return "Redis URL"
	}
	end := len(rest)
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		end = i
	}
	at := strings.LastIndex(rest[:end], "@")
	if at < 0 {
		return raw
	}
	user, _, hasPw := strings.Cut(rest[:at], ":")
	if !hasPw {
		return raw
	}
	return scheme + "://" + user + ":xxxxx" + rest[at:]
}
