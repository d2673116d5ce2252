"""Check a keyward API key from a Python service, with the standard library only.

Call verify_key() before serving each request and serve it only if the answer's "valid"
is true. When keyward cannot answer (down, timed out, an error status, an answer that is
not keyward's), verify_key() raises KeywardUnavailable: refuse the request then (503),
never let it through.

Run as a script, it reads one key from standard input (never from the command line, where
other users of the machine can see it) and prints VALID or the refusal:

    echo "$KEY" | KEYWARD_URL=http://127.0.0.1:8080 KEYWARD_ROOT_KEY=kwroot_... \
        python3 verify.py invoices:read
    # exit 0: VALID <key name>   1: REFUSED <code>   2: UNAVAILABLE <reason>
"""

import json
import os
import sys
import urllib.error
import urllib.request

KEYWARD_URL = os.environ.get("KEYWARD_URL", "http://127.0.0.1:8080").rstrip("/")
# A root key with the keys:verify right; keep it out of logs and error messages.
ROOT_KEY = os.environ.get("KEYWARD_ROOT_KEY", "")
TIMEOUT_SECONDS = 2.0


class KeywardUnavailable(Exception):
    """keyward gave no verify answer: refuse the request (fail closed)."""


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    # A redirect would carry the root key to another address: treat it as an error.
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_opener = urllib.request.build_opener(_NoRedirects)


def verify_key(key, permission=None, ip=None, origin=None, action=None, resource=None):
    """keyward's answer for `key` as a dict ("valid", "code", and for a known key "key_id",
    "name", "owner_id", "permissions", ...). The optional fields are checked (permission,
    ip, origin) and recorded in the audit trail (all of them)."""
    body = {"key": key}
    optional = {
        "permission": permission,
        "ip": ip,
        "origin": origin,
        "action": action,
        "resource": resource,
    }
    body.update({name: value for name, value in optional.items() if value is not None})
    request = urllib.request.Request(
        KEYWARD_URL + "/v1/verify",
        data=json.dumps(body).encode(),
        method="POST",
        headers={
            "Authorization": "Bearer " + ROOT_KEY,
            "Content-Type": "application/json",
        },
    )
    try:
        with _opener.open(request, timeout=TIMEOUT_SECONDS) as response:
            answer = json.load(response)
    except urllib.error.HTTPError as error:
        # keyward refused the call itself (a bad root key, a 503 while it cannot decide).
        raise KeywardUnavailable(f"keyward answered {error.code}") from None
    except (OSError, ValueError) as error:
        # No answer (URLError and timeouts are OSErrors) or not JSON.
        raise KeywardUnavailable(type(error).__name__) from None
    if not isinstance(answer, dict) or not isinstance(answer.get("valid"), bool):
        raise KeywardUnavailable("not a verify answer")
    return answer


def main():
    key = sys.stdin.readline().strip()
    permission = sys.argv[1] if len(sys.argv) > 1 else None
    try:
        answer = verify_key(key, permission=permission, action="recipe", resource="verify.py")
    except KeywardUnavailable as error:
        print(f"UNAVAILABLE {error}")
        return 2
    if answer["valid"]:
        print(f"VALID {answer.get('name')}")
        return 0
    # 401 for NOT_FOUND, REVOKED, EXPIRED, DISABLED; 403 for INSUFFICIENT_PERMISSIONS and
    # FORBIDDEN; 429 for RATE_LIMITED and USAGE_EXCEEDED.
    print(f"REFUSED {answer.get('code')}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
