#!/usr/bin/env python3
"""Check a keyward audit export (NDJSON, unfiltered) against its hash chain.

Usage: verify_audit_export.py EXPORT.ndjson
Exits 0 when every event's hash recomputes and every link holds, 1 otherwise.
Only the Python standard library is used, so an auditor can read all of it.
Gaps left by retention (pruned verification events) are reported, not treated as breaks:
a kept event after a gap is checked on its own hash only.
"""
import hashlib
import json
import sys

GENESIS = "0" * 64
FIELDS = [
    "action", "actor_id", "actor_name", "detail", "id", "ip", "key_id", "key_name", "kind",
    "origin", "outcome", "prev_hash", "resource", "seq", "time", "user_agent", "workspace_id",
]


def canonical(event):
    fields = {name: event[name] for name in FIELDS}
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def main(path):
    with open(path, encoding="utf-8") as f:
        events = [json.loads(line) for line in f if line.strip()]
    by_workspace = {}
    for event in events:
        by_workspace.setdefault(event["workspace_id"], []).append(event)
    ok = True
    for workspace, chain in by_workspace.items():
        chain.sort(key=lambda e: e["seq"])
        prev_seq, prev_hash, gaps = 0, GENESIS, 0
        for event in chain:
            digest = hashlib.sha256(canonical(event).encode("utf-8")).hexdigest()
            if digest != event["hash"]:
                print(f"{workspace}: seq {event['seq']}: contents do not match the hash")
                ok = False
                break
            if event["seq"] == prev_seq + 1:
                if event["prev_hash"] != prev_hash:
                    print(f"{workspace}: seq {event['seq']}: prev_hash does not link")
                    ok = False
                    break
            else:
                gaps += 1
            prev_seq, prev_hash = event["seq"], event["hash"]
        else:
            note = f" ({gaps} gaps from retention)" if gaps else ""
            print(f"{workspace}: {len(chain)} events intact{note}")
    return 0 if ok else 1


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__)
        sys.exit(2)
    sys.exit(main(sys.argv[1]))
