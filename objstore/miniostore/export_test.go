package miniostore

// SetCopyLimits lowers the size above which Copy goes part by part, so
// that tests can exercise the multipart copy without 5 GiB objects.
func SetCopyLimits(threshold, partSize int64) (restore func()) {
	oldT, oldP := copyPartThreshold, copyPartSize
	copyPartThreshold, copyPartSize = threshold, partSize
	return func() { copyPartThreshold, copyPartSize = oldT, oldP }
}
