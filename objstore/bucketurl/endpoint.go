package bucketurl

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"time"

	"github.com/fanout-dev/fanout/objstore"
)

// ErrMetadataEndpoint is returned (wrapped) by Open and CheckEndpoint for
// an S3 endpoint at a link-local or cloud metadata address; it is
// objstore.ErrMetadataAddress, which the stores Open returns also report
// for every connection they are refused there.
var ErrMetadataEndpoint = objstore.ErrMetadataAddress

// isMetadataIP is objstore.IsMetadataIP.
func isMetadataIP(ip net.IP) bool { return objstore.IsMetadataIP(ip) }

// CheckEndpoint refuses an S3 endpoint URL whose host is, or resolves to,
// a link-local or cloud metadata address (Open calls it unless
// Options.AllowMetadataEndpoint is set): an endpoint taken from a job's
// environment or a configuration file must not turn fanout's signed
// requests (and the errors it reports) towards the instance metadata
// service, where the machine's own credentials live. An empty endpoint
// (AWS itself) passes. A host that does not resolve passes too: the store
// reports that itself.
func CheckEndpoint(ctx context.Context, endpoint string) error {
	if endpoint == "" {
		return nil
	}
	u, err := url.Parse(endpoint)
	if err != nil || u.Hostname() == "" {
		return nil // the backend reports a malformed endpoint
	}
	host := u.Hostname()
	refuse := func(ip net.IP) error {
		return fmt.Errorf("%w: %s is %s (if this is really your S3 service, set Options.AllowMetadataEndpoint, or FANOUT_ALLOW_METADATA_ENDPOINT=1 for the fanout commands)",
			ErrMetadataEndpoint, u.Redacted(), ip)
	}
	if ip := net.ParseIP(host); ip != nil {
		if isMetadataIP(ip) {
			return refuse(ip)
		}
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupIPAddr(ctx, host)
	if err != nil {
		return nil
	}
	for _, a := range addrs {
		if isMetadataIP(a.IP) {
			return refuse(a.IP)
		}
	}
	return nil
}
