#!/usr/bin/env python3
"""Check a keyward audit export (NDJSON, unfiltered) against its hash chain.

Usage: verify_audit_export.py EXPORT.ndjson [--anchor ANCHOR.json]
Exits 0 when every event's hash recomputes and every link holds, 1 otherwise.
Only the Python standard library is used, so an auditor can read all of it.

Gaps are allowed only where retention pruned verification events: at or before the cut
recorded by the chain's newest `audit.checkpoint` event (itself a chained event), where the
kept events must number exactly what that checkpoint says. Anywhere else a gap is a break.

An export carries no chain head, so a tail cut off the export cannot be seen here; with
--anchor (a head signed by the server, from `keyward audit anchor`), the export must still
hold the anchored event unchanged and every event before it that retention never deletes.
The anchor's Ed25519 signature is not checked here (the standard library has no Ed25519);
check it against the server's public key with any Ed25519 tool (docs/audit.md).
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


def newest_checkpoint(chain):
    """The cut of the newest audit.checkpoint event: (seq, hash, retained), or the genesis."""
    for event in reversed(chain):
        if event["kind"] == "audit.checkpoint":
            cut = json.loads(event["detail"] or "null")
            return cut["seq"], cut["hash"], cut["retained"]
    return 0, GENESIS, 0


def check(workspace, chain, anchor):
    """Returns a list of problems (empty: intact)."""
    chain.sort(key=lambda e: e["seq"])
    try:
        cut_seq, cut_hash, retained = newest_checkpoint(chain)
    except (ValueError, KeyError, TypeError):
        return ["the newest audit.checkpoint event records no checkpoint"]
    prev_seq, prev_hash, kept_before_cut = 0, GENESIS, 0
    for event in chain:
        seq = event["seq"]
        digest = hashlib.sha256(canonical(event).encode("utf-8")).hexdigest()
        if digest != event["hash"]:
            return [f"seq {seq}: contents do not match the hash"]
        if seq <= cut_seq:
            kept_before_cut += 1
            if seq == prev_seq + 1 and event["prev_hash"] != prev_hash:
                return [f"seq {seq}: prev_hash does not link"]
        else:
            if prev_seq < cut_seq:
                prev_seq, prev_hash = cut_seq, cut_hash
            if seq != prev_seq + 1:
                return [f"seq {prev_seq + 1} is missing (a gap retention did not make)"]
            if event["prev_hash"] != prev_hash:
                return [f"seq {seq}: prev_hash does not link"]
        prev_seq, prev_hash = seq, event["hash"]
    if kept_before_cut != retained:
        return [f"{kept_before_cut} events kept before the checkpoint at seq {cut_seq}, "
                f"{retained} expected"]
    if anchor is not None:
        by_seq = {e["seq"]: e for e in chain}
        anchored = by_seq.get(anchor["seq"])
        if anchored is None and anchor["seq"] > cut_seq:
            return [f"the anchored event (seq {anchor['seq']}) is missing"]
        if anchored is not None and anchored["hash"] != anchor["hash"]:
            return [f"seq {anchor['seq']} is not the event the anchor signed"]
        kept = sum(1 for e in chain if e["seq"] <= anchor["seq"] and e["kind"] != "key.verified")
        if kept != anchor["kept"]:
            return [f"{kept} events retention never deletes at or before the anchor, "
                    f"{anchor['kept']} signed"]
        if "kept_digest" in anchor:
            # The running digest of their hashes binds their contents, not only their number.
            digest = GENESIS
            for e in chain:
                if e["seq"] <= anchor["seq"] and e["kind"] != "key.verified":
                    digest = hashlib.sha256((digest + e["hash"]).encode("ascii")).hexdigest()
            if digest != anchor["kept_digest"]:
                return ["the events retention never deletes at or before the anchor are not "
                        "the ones it signed: one was edited"]
        else:
            print(f"{workspace}: the anchor has no kept_digest (signed by an older version): "
                  "only the number of kept events before it is checked")
    return []


def main(args):
    if len(args) not in (1, 3) or (len(args) == 3 and args[1] != "--anchor"):
        print(__doc__)
        return 2
    anchor = None
    if len(args) == 3:
        with open(args[2], encoding="utf-8") as f:
            anchor = json.loads([line for line in f if line.strip()][-1])
    with open(args[0], encoding="utf-8") as f:
        events = [json.loads(line) for line in f if line.strip()]
    by_workspace = {}
    for event in events:
        by_workspace.setdefault(event["workspace_id"], []).append(event)
    if anchor is not None and anchor["workspace_id"] not in by_workspace:
        by_workspace[anchor["workspace_id"]] = []
    ok = True
    for workspace, chain in by_workspace.items():
        problems = check(workspace, chain, anchor if anchor and anchor["workspace_id"] == workspace else None)
        if problems:
            ok = False
            for problem in problems:
                print(f"{workspace}: {problem}")
        else:
            print(f"{workspace}: {len(chain)} events intact")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
