package miniostore

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"slices"

	"github.com/fanout-dev/fanout/objstore"
	"github.com/fanout-dev/fanout/objstore/internal/s3compat"
	"github.com/minio/minio-go/v7"
)

// readError reads the S3 error code and status out of minio-go's errors.
func readError(err error) (code string, status int, ok bool) {
	var er minio.ErrorResponse
	if !errors.As(err, &er) {
		return "", 0, false
	}
	return er.Code, er.StatusCode, true
}

// sdk is s3compat's view of the store: its minio-go calls, one attempt
// each.
type sdk struct{ s *Store }

var _ s3compat.API = sdk{}

func (a sdk) HeadObject(ctx context.Context, key string) (objstore.ObjectInfo, error) {
	oi, err := a.s.client.StatObject(ctx, a.s.bucket, key, minio.StatObjectOptions{})
	return info(oi), err
}

func (a sdk) CopyObject(ctx context.Context, dst, src, srcETag string) (objstore.ObjectInfo, error) {
	oi, err := a.s.core.CopyObject(ctx, a.s.bucket, src, a.s.bucket, dst, a.s.sseHeaders(),
		minio.CopySrcOptions{Bucket: a.s.bucket, Object: src, MatchETag: s3compat.QuoteETag(srcETag)}, minio.PutObjectOptions{})
	return info(oi), err
}

func (a sdk) CreateMultipartUpload(ctx context.Context, key, contentType string) (string, error) {
	return a.s.core.NewMultipartUpload(ctx, a.s.bucket, key, minio.PutObjectOptions{ContentType: contentType, ServerSideEncryption: a.s.sse, DisableContentSha256: true})
}

func (a sdk) UploadPart(ctx context.Context, key, uploadID string, number int, data []byte) (string, error) {
	p, err := a.s.core.PutObjectPart(ctx, a.s.bucket, key, uploadID, number, bytes.NewReader(data), int64(len(data)), minio.PutObjectPartOptions{DisableContentSha256: true})
	return p.ETag, err
}

func (a sdk) ListMultipartUploads(ctx context.Context, prefix, keyMarker, uploadIDMarker string) (s3compat.UploadsPage, error) {
	r, err := a.s.core.ListMultipartUploads(ctx, a.s.bucket, prefix, keyMarker, uploadIDMarker, "", 1000)
	if err != nil {
		return s3compat.UploadsPage{}, err
	}
	page := s3compat.UploadsPage{NextKeyMarker: r.NextKeyMarker, NextUploadIDMarker: r.NextUploadIDMarker, Truncated: r.IsTruncated}
	for _, u := range r.Uploads {
		page.Uploads = append(page.Uploads, objstore.Upload{Key: u.Key, ID: u.UploadID, Initiated: u.Initiated})
	}
	return page, nil
}

func (a sdk) UploadPartCopy(ctx context.Context, dst, src, uploadID string, number int, offset, length int64, srcETag string) (string, error) {
	pin := map[string]string{"x-amz-copy-source-if-match": s3compat.QuoteETag(srcETag)}
	p, err := a.s.core.CopyObjectPart(ctx, a.s.bucket, src, a.s.bucket, dst, uploadID, number, offset, length, pin)
	return p.ETag, err
}

func (a sdk) CompleteMultipartUpload(ctx context.Context, key, uploadID string, parts []s3compat.Part, opts *objstore.PutOptions) (etag, versionID string, err error) {
	complete := make([]minio.CompletePart, len(parts))
	for i, p := range parts {
		complete[i] = minio.CompletePart{PartNumber: p.Number, ETag: p.ETag}
	}
	po := minio.PutObjectOptions{}
	if opts != nil {
		po = putOptions(opts)
	}
	ui, err := a.s.core.CompleteMultipartUpload(ctx, a.s.bucket, key, uploadID, slices.Clone(complete), po)
	return ui.ETag, ui.VersionID, err
}

func (a sdk) AbortMultipartUpload(ctx context.Context, key, uploadID string) error {
	return a.s.core.AbortMultipartUpload(ctx, a.s.bucket, key, uploadID)
}

// sseHeaders are the encryption headers of a copy's destination (a copy
// does not keep its source's encryption, and Core.CopyObject takes them
// as metadata); nil when the bucket's default applies.
func (s *Store) sseHeaders() map[string]string {
	if s.sse == nil {
		return nil
	}
	h := http.Header{}
	s.sse.Marshal(h)
	m := make(map[string]string, len(h))
	for k := range h {
		m[k] = h.Get(k)
	}
	return m
}
