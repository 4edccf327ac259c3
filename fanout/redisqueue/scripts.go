package redisqueue

import (
	_ "embed"
	"strings"

	"github.com/redis/go-redis/v9"
)

// Every state change of a chunk is one Lua script, run atomically by
// Redis with Redis's own clock. Each file's header names its KEYS, ARGV
// and result; lua/common.lua holds the helpers they share and is
// prepended to each.
var (
	//go:embed lua/common.lua
	commonLua string
	//go:embed lua/enqueue.lua
	enqueueLua string
	//go:embed lua/claim.lua
	claimLua string
	//go:embed lua/heartbeat.lua
	heartbeatLua string
	//go:embed lua/ack.lua
	ackLua string
	//go:embed lua/fail.lua
	failLua string
	//go:embed lua/release.lua
	releaseLua string
	//go:embed lua/reclaim.lua
	reclaimLua string
	//go:embed lua/redrive.lua
	redriveLua string
	//go:embed lua/stats.lua
	statsLua string
	//go:embed lua/deadletters.lua
	deadLettersLua string
	//go:embed lua/activity.lua
	activityLua string
	//go:embed lua/backup.lua
	backupLua string
	//go:embed lua/leasecommit.lua
	leaseCommitLua string
	//go:embed lua/releasecommit.lua
	releaseCommitLua string
	//go:embed lua/count.lua
	countLua string
	//go:embed lua/ackclaim.lua
	ackClaimLua string
)

var (
	enqueueScript       = newScript(enqueueLua)
	claimScript         = newScript(claimLua)
	heartbeatScript     = newScript(heartbeatLua)
	ackScript           = newScript(ackLua)
	failScript          = newScript(failLua)
	releaseScript       = newScript(releaseLua)
	reclaimScript       = newScript(reclaimLua)
	redriveScript       = newScript(redriveLua)
	statsScript         = newScript(statsLua)       // read-only
	deadLettersScript   = newScript(deadLettersLua) // read-only
	activityScript      = newScript(activityLua)    // read-only
	backupScript        = newScript(backupLua)
	leaseCommitScript   = newScript(leaseCommitLua)
	releaseCommitScript = newScript(releaseCommitLua)
	countScript         = newScript(countLua)
	ackClaimScript      = newScript(asFunction("ack", ackLua) + asFunction("claim", claimLua) + ackClaimLua)
)

func newScript(src string) *redis.Script { return redis.NewScript(commonLua + "\n" + src) }

// ScriptNames maps the SHA1 of each of the queue's scripts (the argument
// of an EVALSHA) to its name, the name of its file in the lua directory
// without ".lua": for tools that count the queue's requests by what they
// do (a go-redis hook sees only "evalsha <sha1> ..."), such as the scale
// simulation (scripts/scale).
func ScriptNames() map[string]string {
	names := map[string]string{}
	for name, s := range map[string]*redis.Script{
		"enqueue": enqueueScript, "claim": claimScript, "heartbeat": heartbeatScript, "ack": ackScript,
		"fail": failScript, "release": releaseScript, "reclaim": reclaimScript, "redrive": redriveScript,
		"stats": statsScript, "deadletters": deadLettersScript, "activity": activityScript, "backup": backupScript,
		"leasecommit": leaseCommitScript, "releasecommit": releaseCommitScript, "count": countScript,
		"ackclaim": ackClaimScript,
	} {
		names[s.Hash()] = name
	}
	return names
}

// asFunction makes a script's body the local function name(K, A, SPEC,
// NOW), its KEYS and ARGV being K and A, so that another script can run it
// (on the keys and arguments it gives, with the job's spec and the time it
// read: see SPEC and NOW in lua/common.lua) and go on.
func asFunction(name, src string) string {
	r := strings.NewReplacer("KEYS[", "K[", "ARGV[", "A[", "#ARGV", "#A")
	return "local function " + name + "(K, A, SPEC, NOW)\n" + r.Replace(src) + "\nend\n"
}

// Status codes: the first element of every script's result (the same
// names are defined in lua/common.lua).
const (
	codeOK         = 1
	codeNoWork     = 0
	codeLeaseLost  = -1
	codeUnknownJob = -2
)
