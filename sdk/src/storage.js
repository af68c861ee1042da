// Identity kept in localStorage (never in cookies): the anonymous id, the identified user
// and the session. When storage is unavailable (disabled, or a sandboxed frame) the ids
// live in memory for the life of the page.

const PREFIX = "pulseboard_";
export const SESSION_IDLE_MS = 30 * 60 * 1000;

const memory = {};

function read(key) {
  try {
    return localStorage.getItem(PREFIX + key);
  } catch {
    return memory[key] ?? null;
  }
}

function write(key, value) {
  memory[key] = value;
  try {
    value == null ? localStorage.removeItem(PREFIX + key) : localStorage.setItem(PREFIX + key, value);
  } catch {}
}

// A version-4 UUID. crypto.randomUUID exists only in secure contexts (https, localhost),
// so plain http falls back to getRandomValues.
export function uuid() {
  if (crypto.randomUUID) return crypto.randomUUID();
  return "10000000-1000-4000-8000-100000000000".replace(/[018]/g, (c) =>
    (c ^ (crypto.getRandomValues(new Uint8Array(1))[0] & (15 >> (c / 4)))).toString(16),
  );
}

export function anonymousId() {
  let id = read("anonymous_id");
  if (!id) write("anonymous_id", (id = uuid()));
  return id;
}

export const userId = () => read("user_id");
export const setUserId = (id) => write("user_id", id);

// The session of an event at `now`: the stored one unless it was idle for 30 minutes.
// Every event counts as activity.
export function sessionId(now) {
  let session;
  try {
    session = JSON.parse(read("session"));
  } catch {}
  if (!session || !session.id || !(now - session.last < SESSION_IDLE_MS)) session = { id: uuid() };
  session.last = now;
  write("session", JSON.stringify(session));
  return session.id;
}

// Forget the user: a new anonymous id and a new session.
export function forget() {
  write("user_id", null);
  write("anonymous_id", uuid());
  write("session", null);
}
