#!/usr/bin/env python3
"""A program for fanout's exec in streaming mode (--arg mode=stream), with
the standard library only: it starts once per worker slot and serves chunk
after chunk.

fanout writes one JSON line per record, {"record": "<the record>"}, then
{"end": "<chunk>"}; this program answers {"line": "<output>"} per output row
and {"end": "<chunk>"} when it is done with the chunk. It upper-cases each
record, drops empty ones, and fails a chunk holding a record "FAIL" (as
{"error": ..., "end": ...}) to show how a program reports bad input.

    fanout run --in s3://b/in/ --fn exec --out s3://b/out/ --out-format lines \
        --arg cmd="python3 examples/exec-stream/upper.py" --arg mode=stream

On Lambda, ship it in the zip (scripts/package-lambda.sh --include
examples/exec-stream puts it, executable, in /var/task), allow it alone
(FANOUT_ALLOW_EXEC=/var/task/upper.py) and run it by that path
(--arg cmd=/var/task/upper.py); python3 comes from a layer there.
"""
import json
import sys


def main():
    out = []
    failed = None
    for raw in sys.stdin:
        msg = json.loads(raw)
        if "end" in msg:
            if failed is not None:
                reply = {"error": failed, "permanent": True, "end": msg["end"]}
            else:
                for line in out:
                    sys.stdout.write(json.dumps({"line": line}) + "\n")
                reply = {"end": msg["end"]}
            sys.stdout.write(json.dumps(reply) + "\n")
            sys.stdout.flush()
            out, failed = [], None
            continue
        record = msg["record"]
        if not isinstance(record, str):  # Parquet input: an object of columns
            record = json.dumps(record, sort_keys=True)
        if record == "FAIL":
            failed = "a record says FAIL"
        elif record:
            out.append(record.upper())


if __name__ == "__main__":
    main()
