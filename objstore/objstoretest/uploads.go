package objstoretest

import (
	"bytes"
	"fmt"
	"io"
	"slices"
	"testing"

	"github.com/fanout-dev/fanout/objstore"
)

// testUploads pins objstore.Uploader on stores that implement it: an open
// upload is invisible to Stat and List, ListUploads finds it under any
// prefix of its key, CompleteUpload publishes it and is idempotent (a
// second completion, as after a lost response, succeeds with the same
// object), AbortUpload drops it and tolerates one already gone, and a
// completion of an aborted upload is ErrNotFound. A body held in memory
// (objstore.BytesBody) uploads as any other, its bytes unchanged.
func testUploads(t *testing.T, b objstore.Bucket, c config) {
	up, ok := b.(objstore.Uploader)
	if !ok {
		// Not a missing service: a store without multipart uploads (the
		// file store links instead). scripts/test.sh runs this test on
		// both S3 backends against MinIO and on simstore.
		t.Skip("the store does not implement objstore.Uploader (scripts/test.sh runs this test on the S3 backends and simstore)")
	}
	ctx := ctxFor(t)
	body := []byte("the bytes of an open upload")
	u, err := up.PutUpload(ctx, "up/a=1/x.txt", bytes.NewReader(body), &objstore.PutOptions{Size: int64(len(body)), ContentType: "text/plain"})
	if err != nil {
		t.Fatalf("PutUpload: %v", err)
	}
	if u.Key != "up/a=1/x.txt" || u.ID == "" || len(u.Parts) != 1 || u.Size() != int64(len(body)) || u.Parts[0].ETag == "" {
		t.Fatalf("PutUpload = %+v, want one part of %d bytes", u, len(body))
	}
	wantMissing(t, b, u.Key)
	if got := listKeys(t, b, "up/", nil); len(got) != 0 {
		t.Fatalf("List(up/) with an open upload = %q, want nothing", got)
	}
	for _, prefix := range []string{"", "up/", "up/a=1/", u.Key} {
		if ids := uploadIDs(t, up, prefix, u.Key); !slices.Contains(ids, u.ID) {
			t.Fatalf("ListUploads(%q) = %q, want %s among them", prefix, ids, u.ID)
		}
	}
	if ids := uploadIDs(t, up, "up/b", u.Key); len(ids) != 0 {
		t.Fatalf("ListUploads(up/b) lists %q of %s", ids, u.Key)
	}
	// Another upload of the same key, aborted: it never shows.
	other, err := up.PutUpload(ctx, u.Key, bytes.NewReader([]byte("a loser's bytes")), nil)
	if err != nil {
		t.Fatalf("PutUpload of the same key: %v", err)
	}
	if err := up.AbortUpload(ctx, other.Key, other.ID); err != nil {
		t.Fatalf("AbortUpload: %v", err)
	}
	if err := up.AbortUpload(ctx, other.Key, other.ID); err != nil {
		t.Fatalf("AbortUpload of an aborted upload: %v", err)
	}
	if ids := uploadIDs(t, up, "up/", u.Key); slices.Contains(ids, other.ID) {
		t.Fatalf("ListUploads after AbortUpload still lists %s", other.ID)
	}
	_, err = up.CompleteUpload(ctx, other)
	wantErr(t, "CompleteUpload of an aborted upload", err, objstore.ErrNotFound)

	info, err := up.CompleteUpload(ctx, u)
	if err != nil {
		t.Fatalf("CompleteUpload: %v", err)
	}
	st, err := b.Stat(ctx, u.Key)
	if err != nil || st.ETag != info.ETag || st.Size != int64(len(body)) {
		t.Fatalf("CompleteUpload = %+v; Stat = %+v, %v", info, st, err)
	}
	if got, _ := get(t, b, u.Key, nil); !bytes.Equal(got, body) {
		t.Fatalf("completed content %q, want %q", got, body)
	}
	// A second completion (a lost response, a second committer) finds the
	// upload gone and the object its own.
	again, err := up.CompleteUpload(ctx, u)
	if err != nil || again.ETag != st.ETag {
		t.Fatalf("CompleteUpload again = %+v, %v; want success with ETag %s", again, err, st.ETag)
	}
	if err := up.AbortUpload(ctx, u.Key, u.ID); err != nil {
		t.Fatalf("AbortUpload of a completed upload: %v", err)
	}
	if got, _ := get(t, b, u.Key, nil); !bytes.Equal(got, body) {
		t.Fatalf("content after aborting the completed upload %q", got)
	}
	// A later upload's completion replaces the object; the first upload
	// is then no longer recognised as completed.
	next, err := up.PutUpload(ctx, u.Key, bytes.NewReader([]byte("replaced")), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := up.CompleteUpload(ctx, next); err != nil {
		t.Fatalf("CompleteUpload over an object: %v", err)
	}
	if got, _ := get(t, b, u.Key, nil); string(got) != "replaced" {
		t.Fatalf("content after replacing %q", got)
	}
	_, err = up.CompleteUpload(ctx, u)
	wantErr(t, "CompleteUpload of an upload whose object was replaced", err, objstore.ErrNotFound)

	// More than one part: S3's 5 MiB minimum holds for all but the last.
	big := RandomReader(7, 16<<20+12345)
	bu, err := up.PutUpload(ctx, "up/big", big, &objstore.PutOptions{Size: 16<<20 + 12345})
	if err != nil {
		t.Fatalf("PutUpload of 16 MiB + 12345: %v", err)
	}
	if len(bu.Parts) < 2 || bu.Size() != 16<<20+12345 {
		t.Fatalf("PutUpload of 16 MiB + 12345 = %d parts, %d bytes; want at least 2 parts", len(bu.Parts), bu.Size())
	}
	wantMissing(t, b, "up/big")
	if _, err := up.CompleteUpload(ctx, bu); err != nil {
		t.Fatalf("CompleteUpload of %d parts: %v", len(bu.Parts), err)
	}
	if _, err := up.CompleteUpload(ctx, bu); err != nil {
		t.Fatalf("CompleteUpload of %d parts again: %v", len(bu.Parts), err)
	}
	if _, sum := hashObject(t, b, "up/big"); sum != RandomSum(7, 16<<20+12345) {
		t.Fatal("the completed multipart object's bytes differ")
	}
	// A body held in memory (objstore.BytesBody), which a backend may
	// send from its bytes as they are: one part and more than one.
	for _, size := range []int{100, 16<<20 + 12345} {
		held, err := io.ReadAll(RandomReader(8, int64(size)))
		if err != nil {
			t.Fatal(err)
		}
		key := fmt.Sprintf("up/held-%d", size)
		hu, err := up.PutUpload(ctx, key, bytes.NewBuffer(held), &objstore.PutOptions{Size: int64(size)})
		if err != nil {
			t.Fatalf("PutUpload of %d bytes held in memory: %v", size, err)
		}
		if hu.Size() != int64(size) || size > 16<<20 && len(hu.Parts) < 2 {
			t.Fatalf("PutUpload of %d bytes held in memory = %d parts, %d bytes", size, len(hu.Parts), hu.Size())
		}
		if _, err := up.CompleteUpload(ctx, hu); err != nil {
			t.Fatalf("CompleteUpload of %d bytes held in memory: %v", size, err)
		}
		if _, sum := hashObject(t, b, key); sum != RandomSum(8, int64(size)) {
			t.Fatalf("the completed upload of %d bytes held in memory differs", size)
		}
		if want, _ := io.ReadAll(RandomReader(8, int64(size))); !bytes.Equal(held, want) {
			t.Fatalf("PutUpload changed the %d bytes held in memory", size)
		}
	}
	_, err = up.PutUpload(ctx, "up/short-held", bytes.NewBufferString("abc"), &objstore.PutOptions{Size: 4})
	if err == nil {
		t.Fatal("PutUpload of a body held in memory with a wrong Size succeeded")
	}
	// A size mismatch leaves no upload behind.
	_, err = up.PutUpload(ctx, "up/short", bytes.NewReader([]byte("abc")), &objstore.PutOptions{Size: 4})
	if err == nil {
		t.Fatal("PutUpload with a wrong Size succeeded")
	}
	if ids := uploadIDs(t, up, "up/short", "up/short"); len(ids) != 0 {
		t.Fatalf("a failed PutUpload left uploads %q", ids)
	}
}

// uploadIDs lists the IDs of the open uploads of key under prefix.
func uploadIDs(t *testing.T, up objstore.Uploader, prefix, key string) []string {
	t.Helper()
	var ids []string
	for u, err := range up.ListUploads(ctxFor(t), prefix) {
		if err != nil {
			t.Fatalf("ListUploads(%q): %v", prefix, err)
		}
		if u.Key == key {
			ids = append(ids, u.ID)
		}
	}
	return ids
}
