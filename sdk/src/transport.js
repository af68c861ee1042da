// Batching and delivery. Events wait in a queue that is sent 2 s after its first event, or
// at once when it holds 10. A batch is POSTed as text/plain (a "simple" request: no CORS
// preflight) with the key in the body. Network errors, 5xx and 429 are retried with
// exponential backoff, 3 attempts in all; every event carries its own event_id, so the
// server stores a retried batch once. Other 4xx answers are never retried.

export const BATCH_SIZE = 10;
export const BATCH_DELAY_MS = 2000;
export const ATTEMPTS = 3;
export const BACKOFF_MS = 1000;

const config = { url: "", key: "" };
const queue = [];
const waiting = new Map(); // batch -> timer of its next attempt
const warned = {};
let timer = 0;

function warn(kind, message) {
  if (warned[kind]) return;
  warned[kind] = 1;
  console.warn("[pulseboard] " + message);
}

// Tell the page what was sent: `pulseboard:send` on window, with the events, the HTTP
// status (0: network error, null: handed to sendBeacon) and the attempt.
function report(events, status, attempt) {
  dispatchEvent(new CustomEvent("pulseboard:send", { detail: { events, status, attempt } }));
}

export function configure(host, key) {
  config.url = host.replace(/\/+$/, "") + "/api/v1/events";
  config.key = key;
  if (queue.length) schedule();
}

export function enqueue(event) {
  queue.push(event);
  queue.length < BATCH_SIZE ? schedule() : flush();
}

function schedule() {
  timer ||= setTimeout(flush, BATCH_DELAY_MS);
}

const body = (events) => JSON.stringify({ api_key: config.key, events });

// Send everything queued now. With `unloading` (the page is being hidden or closed) the
// queue and the batches waiting for a retry go out through sendBeacon, which outlives the
// page.
export function flush(unloading) {
  clearTimeout(timer);
  timer = 0;
  if (!config.key) return;
  if (unloading) {
    for (const [batch, retry] of waiting) {
      clearTimeout(retry);
      queue.push(...batch);
    }
    waiting.clear();
  }
  while (queue.length) {
    const batch = queue.splice(0, BATCH_SIZE);
    unloading ? beacon(batch) : send(batch, 1);
  }
}

function beacon(batch) {
  const data = body(batch);
  if (!navigator.sendBeacon?.(config.url, data)) {
    fetch(config.url, { method: "POST", body: data, keepalive: true, credentials: "omit" }).catch(() => {});
  }
  report(batch, null, 1);
}

async function send(batch, attempt) {
  let status = 0;
  let answer = {};
  try {
    const data = body(batch);
    // keepalive: a request under way when the page closes still completes (browsers allow
    // 64 KB of such bodies in flight).
    const response = await fetch(config.url, { method: "POST", body: data, keepalive: data.length < 32768, credentials: "omit" });
    status = response.status;
    answer = await response.json().catch(() => answer);
  } catch {}
  report(batch, status, attempt);
  const problem = answer.message || JSON.stringify(answer.errors?.[0] || "");
  if (status && status < 300) {
    if (answer.errors?.length) warn("rejected", `the server rejected ${answer.errors.length} event(s): ${problem}`);
  } else if (status >= 400 && status < 500 && status != 429) {
    warn(status, `events not accepted (HTTP ${status}): ${problem}`);
  } else if (attempt < ATTEMPTS) {
    const delay = BACKOFF_MS * 2 ** (attempt - 1) * (1 + Math.random() / 4);
    waiting.set(batch, setTimeout(() => waiting.delete(batch) && send(batch, attempt + 1), delay));
  } else {
    warn("gave-up", `events not sent after ${ATTEMPTS} attempts (last status: ${status || "network error"})`);
  }
}
