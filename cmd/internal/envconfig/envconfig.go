// Package envconfig reads the environment variables that both of
// fanout's commands (cmd/fanout and cmd/fanout-lambda) take, the S3 and
// Redis settings, and turns them into the libraries' Options. The libraries themselves (fanout,
// objstore, functions, manifest) read no environment variable: every
// setting reaches them through a Config or Options field, from here or
// from a command's flags.
//
// The S3 variables are those the AWS tools read, so that a shell set up
// for the AWS CLI (or by scripts/services.sh for the local MinIO) works
// as it is. Credentials are not read here: the backends take them from
// their default chains (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
// AWS_SESSION_TOKEN, AWS_PROFILE and the shared files, instance and task
// roles).
package envconfig

import (
	"fmt"

	"github.com/fanout-dev/fanout/objstore"
	"github.com/fanout-dev/fanout/objstore/bucketurl"
)

// Var is one environment variable a command reads.
type Var struct {
	Name string
	Doc  string
}

// Names of the variables Bucket reads.
const (
	S3Backend             = "FANOUT_S3_BACKEND"
	SSE                   = "FANOUT_SSE"
	AllowMetadataEndpoint = "FANOUT_ALLOW_METADATA_ENDPOINT"
	EndpointS3            = "AWS_ENDPOINT_URL_S3"
	Endpoint              = "AWS_ENDPOINT_URL"
	Region                = "AWS_REGION"
	DefaultRegion         = "AWS_DEFAULT_REGION"
)

// BucketVars lists the variables Bucket reads, for the commands' own
// lists and documentation.
var BucketVars = []Var{
	{S3Backend, "S3 client: minio (default) or aws."},
	{SSE, "server-side encryption of everything written to S3: none, s3, kms or kms:KEY (the CLI's --sse)."},
	{AllowMetadataEndpoint, "1 lets the S3 endpoint be a link-local or cloud metadata address (refused otherwise)."},
	{EndpointS3, "URL of the S3 service (path-style addressing); empty: AWS S3."},
	{Endpoint, "URL of every AWS service, used for S3 when AWS_ENDPOINT_URL_S3 is empty."},
	{Region, "the bucket's region."},
	{DefaultRegion, "the bucket's region when AWS_REGION is empty."},
}

// Names of the queue's variables.
const (
	RedisURL    = "FANOUT_REDIS_URL"
	RedisPrefix = "FANOUT_REDIS_PREFIX"
)

// DefaultRedisPrefix prefixes every Redis key when FANOUT_REDIS_PREFIX is
// empty.
const DefaultRedisPrefix = "fanout"

// Redis returns the queue's Redis URL ($FANOUT_REDIS_URL; empty: none) and
// the prefix of its keys ($FANOUT_REDIS_PREFIX, else DefaultRedisPrefix),
// reading the environment with getenv.
func Redis(getenv func(string) string) (url, prefix string) {
	return getenv(RedisURL), first(getenv(RedisPrefix), DefaultRedisPrefix)
}

// Bucket returns the bucketurl.Options the environment sets, reading it
// with getenv (os.Getenv in the commands): the S3 backend, the endpoint
// (AWS_ENDPOINT_URL_S3, else AWS_ENDPOINT_URL), the region (AWS_REGION,
// else AWS_DEFAULT_REGION), the server-side encryption and whether a
// metadata endpoint is allowed. Unset variables leave their fields at
// the zero value, the libraries' default. An error names the variable.
func Bucket(getenv func(string) string) (bucketurl.Options, error) {
	enc, err := objstore.ParseEncryption(getenv(SSE))
	if err != nil {
		return bucketurl.Options{}, fmt.Errorf("$%s: %w", SSE, err)
	}
	opts := bucketurl.Options{
		S3Backend:             getenv(S3Backend),
		Endpoint:              first(getenv(EndpointS3), getenv(Endpoint)),
		Region:                first(getenv(Region), getenv(DefaultRegion)),
		Encryption:            enc,
		AllowMetadataEndpoint: getenv(AllowMetadataEndpoint) == "1",
	}
	return opts, nil
}

func first(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
