package manifest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
)

// signedView is what a manifest's signature covers: everything that
// decides what a worker runs (the function and its arguments, the output,
// how the input is read) and where its chunks are.
type signedView struct {
	Job         string  `json:"job"`
	Spec        JobSpec `json:"spec"`
	ShardPrefix string  `json:"shard_prefix"`
	Schema      string  `json:"schema"`
	Format      string  `json:"format"`
	Reducers    int     `json:"reducers"`
}

// signatureDomain separates these MACs from any other use of the key.
const signatureDomain = "fanout manifest signature v1\n"

// Sign returns the manifest's signature under key: HMAC-SHA256 over its
// job ID, spec, shard prefix, schema, format and reducers, in hex. A
// submitter that shares key with the workers sets Manifest.Signature to
// it; workers check it with Verify.
func Sign(key []byte, m *Manifest) string {
	body, err := json.Marshal(signedView{Job: m.Job, Spec: m.Spec, ShardPrefix: m.ShardPrefix, Schema: m.Schema, Format: m.Format, Reducers: m.Reducers})
	if err != nil {
		panic("manifest: a JobSpec always marshals: " + err.Error())
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(signatureDomain))
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}

// Verify reports whether m.Signature is m's signature under key.
func Verify(key []byte, m *Manifest) bool {
	got, err := hex.DecodeString(m.Signature)
	if err != nil || len(got) != sha256.Size {
		return false
	}
	want, _ := hex.DecodeString(Sign(key, m))
	return hmac.Equal(got, want)
}
