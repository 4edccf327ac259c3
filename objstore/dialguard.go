package objstore

import (
	"errors"
	"fmt"
	"net"
	"syscall"
)

// ErrMetadataAddress reports a connection to a link-local or cloud
// metadata address refused by RefuseMetadataDial.
var ErrMetadataAddress = errors.New("objstore: connection to a link-local (cloud metadata) address refused")

// metadataIPs are instance metadata addresses outside the link-local
// ranges: AWS's IPv6 IMDS endpoint and Alibaba Cloud's.
var metadataIPs = []net.IP{net.ParseIP("fd00:ec2::254"), net.ParseIP("100.100.100.200")}

// IsMetadataIP reports whether ip is link-local (169.254.0.0/16, where AWS,
// GCP and Azure serve instance metadata and credentials, or fe80::/10) or
// another known metadata address (fd00:ec2::254, 100.100.100.200).
func IsMetadataIP(ip net.IP) bool {
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

// RefuseMetadataDial is a net.Dialer Control function that refuses every
// connection to an address IsMetadataIP reports. It runs on the address
// actually dialled, after name resolution, so that neither a name that
// resolves there, nor one that resolves elsewhere when checked and there
// when used (DNS rebinding), nor an endpoint the SDK found in its own
// configuration turns signed S3 requests towards the instance's
// credentials. The S3 backends take it as their Config.DialControl.
func RefuseMetadataDial(network, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		host = address
	}
	if ip := net.ParseIP(host); ip != nil && IsMetadataIP(ip) {
		return fmt.Errorf("%w: %s %s", ErrMetadataAddress, network, address)
	}
	return nil
}
