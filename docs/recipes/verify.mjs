// Check a keyward API key from a Node service (Node 18+, no packages).
//
// Call verifyKey() before serving each request and serve it only if the answer's `valid`
// is true. When keyward cannot answer (down, timed out, an error status, an answer that is
// not keyward's), verifyKey() throws KeywardUnavailable: refuse the request then (503),
// never let it through.
//
// Run as a script, it reads one key from standard input and prints VALID or the refusal:
//   echo "$KEY" | KEYWARD_URL=http://127.0.0.1:8080 KEYWARD_ROOT_KEY=kwroot_... \
//     node verify.mjs invoices:read
//   # exit 0: VALID <key name>   1: REFUSED <code>   2: UNAVAILABLE <reason>

import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";

const KEYWARD_URL = (process.env.KEYWARD_URL ?? "http://127.0.0.1:8080").replace(/\/+$/, "");
// A root key with the keys:verify right; keep it out of logs and error messages.
const ROOT_KEY = process.env.KEYWARD_ROOT_KEY ?? "";
const TIMEOUT_MS = 2000;

export class KeywardUnavailable extends Error {}

// keyward's answer for `key` ({valid, code, key_id, name, owner_id, permissions, ...}).
// `context` may hold permission, ip, origin, action, resource.
export async function verifyKey(key, context = {}) {
  let response;
  try {
    response = await fetch(`${KEYWARD_URL}/v1/verify`, {
      method: "POST",
      headers: {
        Authorization: `Bearer ${ROOT_KEY}`,
        "Content-Type": "application/json",
      },
      body: JSON.stringify({ key, ...context }),
      // A redirect would carry the root key to another address: treat it as an error.
      redirect: "manual",
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
  } catch (error) {
    throw new KeywardUnavailable(error.name);
  }
  if (response.status !== 200) {
    throw new KeywardUnavailable(`keyward answered ${response.status}`);
  }
  let answer;
  try {
    answer = await response.json();
  } catch {
    throw new KeywardUnavailable("not JSON");
  }
  if (typeof answer !== "object" || answer === null || typeof answer.valid !== "boolean") {
    throw new KeywardUnavailable("not a verify answer");
  }
  return answer;
}

async function main() {
  const key = readFileSync(0, "utf8").split("\n")[0].trim();
  const permission = process.argv[2];
  try {
    const answer = await verifyKey(key, { permission, action: "recipe", resource: "verify.mjs" });
    if (answer.valid) {
      console.log(`VALID ${answer.name}`);
      return 0;
    }
    // 401 for NOT_FOUND, REVOKED, EXPIRED, DISABLED; 403 for INSUFFICIENT_PERMISSIONS and
    // FORBIDDEN; 429 for RATE_LIMITED and USAGE_EXCEEDED.
    console.log(`REFUSED ${answer.code}`);
    return 1;
  } catch (error) {
    if (!(error instanceof KeywardUnavailable)) throw error;
    console.log(`UNAVAILABLE ${error.message}`);
    return 2;
  }
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await main();
}
