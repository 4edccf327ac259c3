package bucketurl

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"time"
)

// ErrMetadataEndpoint is returned (wrapped) by Open and CheckEndpoint for
// an S3 endpoint at a link-local or cloud metadata address.
var ErrMetadataEndpoint = errors.New("bucketurl: S3 endpoint at a link-local (cloud metadata) address")

// metadataIPs are instance metadata addresses outside the link-local
// ranges: AWS's IPv6 IMDS endpoint and Alibaba Cloud's.
var metadataIPs = []net.IP{net.ParseIP("fd00:ec2::254"), net.ParseIP("100.100.100.200")}

// isMetadataIP reports whether ip is link-local (169.254.0.0/16, where AWS,
// GCP and Azure serve instance metadata and credentials, or fe80::/10) or
// one of metadataIPs.
func isMetadataIP(ip net.IP) bool {
	if ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() {
		return true
	}
	for _, m := range metadataIPs {
		if ip.Equal(m) {
			return true
		}
	}
	return false
}

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
