package cli

import (
	"fmt"
	"os"
	"testing"

	"github.com/fanout-dev/fanout/localstack"
)

// S3's refusal of the credentials, and an endpoint that does not answer,
// are one line each that says what failed, on which endpoint and bucket,
// and where the credentials or the endpoint come from, with either S3
// backend; no package prefix, no SDK request details.
func TestS3RefusalsSayWhatToDo(t *testing.T) {
	bucket, s3 := localstack.Bucket(t)
	home := t.TempDir() // no shared credentials file
	env := func(backend, endpoint, key, secret string) []string {
		e := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "AWS_ENDPOINT_URL_S3=" + endpoint, "AWS_REGION=" + s3.Region,
			"FANOUT_S3_BACKEND=" + backend, "AWS_EC2_METADATA_DISABLED=true"}
		if key != "" {
			e = append(e, "AWS_ACCESS_KEY_ID="+key, "AWS_SECRET_ACCESS_KEY="+secret)
		}
		return e
	}
	out := "s3://" + bucket + "/out/"
	args := []string{"run", "--in", "s3://" + bucket + "/in/", "--fn", "convert", "--out", out}
	const creds = " (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, else AWS_PROFILE's shared files, else the instance or task role)\n"
	refused := func(reason string) string {
		return fmt.Sprintf("fanout: output %q: S3 at %s refused access to bucket %q (%s): check the credentials and that they may use the bucket", out, s3.Endpoint, bucket, reason) + creds
	}
	const badSignature = "SignatureDoesNotMatch: The request signature we calculated does not match the signature you provided. Check your key and signing method."
	down := fmt.Sprintf("http://127.0.0.1:%d", localstack.FreePort(t))
	for _, tc := range []struct {
		name   string
		env    []string
		args   []string
		stderr string
	}{
		{name: "wrong secret", env: env("minio", s3.Endpoint, s3.AccessKey, "wrong-secret"), args: args, stderr: refused(badSignature)},
		{name: "wrong secret, aws backend", env: env("aws", s3.Endpoint, s3.AccessKey, "wrong-secret"), args: args, stderr: refused(badSignature)},
		{name: "unknown key", env: env("minio", s3.Endpoint, "nobody-knows-me", "wrong-secret"), args: args,
			stderr: refused("InvalidAccessKeyId: The Access Key Id you provided does not exist in our records.")},
		{name: "no credentials", env: env("minio", s3.Endpoint, "", ""), args: args, stderr: refused("AccessDenied: Access Denied.")},
		{name: "infer, wrong secret", env: env("minio", s3.Endpoint, s3.AccessKey, "wrong-secret"), args: []string{"infer", "--in", "s3://" + bucket + "/in/"},
			stderr: fmt.Sprintf("fanout: --in s3://%s/in/: S3 at %s refused access to bucket %q (%s): check the credentials and that they may use the bucket", bucket, s3.Endpoint, bucket, badSignature) + creds},
		{name: "gc, wrong secret", env: env("minio", s3.Endpoint, s3.AccessKey, "wrong-secret"), args: []string{"gc", "--out", out}, stderr: refused(badSignature)},
		{name: "endpoint down", env: env("minio", down, s3.AccessKey, s3.SecretKey), args: args,
			stderr: fmt.Sprintf("fanout: output %q: cannot reach S3 at %s (dial tcp %s: connect: connection refused): start it, or check the S3 endpoint (AWS_ENDPOINT_URL_S3, or AWS_ENDPOINT_URL)\n",
				out, down, down[len("http://"):])},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runIn(t, t.TempDir(), tc.env, tc.args...)
			if code != exitFailed || stderr != tc.stderr || stdout != "" {
				t.Errorf("exit code %d, stdout %q, stderr:\n%s\nwant exit code %d, no stdout, stderr:\n%s", code, stdout, stderr, exitFailed, tc.stderr)
			}
		})
	}
}
