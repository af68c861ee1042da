// PulseBoard's browser SDK: window.pulseboard = {init, track, identify, reset, flush}.
//
//   <script defer src="https://pulseboard.example.com/static/sdk/pulseboard.js" data-api-key="pb_..."></script>
//
// or, without data-api-key: pulseboard.init("pb_...", {host: "https://pulseboard.example.com"}).

import { anonymousId, forget, sessionId, setUserId, userId, uuid } from "./storage.js";
import { configure, enqueue, flush } from "./transport.js";

const VERSION = "1.0.0";
const MAX_URL = 2048; // the longest page_url and referrer the server takes

// The script's own origin is the default host: where the SDK is served, events go.
const script = document.currentScript;
const scriptOrigin = script?.src ? new URL(script.src).origin : location.origin;

let started = false;
let lastUrl = "";

function capture(event, properties, fields) {
  const now = Date.now();
  const record = {
    event: String(event),
    event_id: uuid(),
    timestamp: new Date(now).toISOString(),
    anonymous_id: anonymousId(),
    session_id: sessionId(now),
    source: "web",
    page_url: location.href.slice(0, MAX_URL),
    properties: {
      $screen_width: screen.width,
      $screen_height: screen.height,
      $viewport_width: innerWidth,
      $language: navigator.language,
      $lib: "pulseboard-js",
      $lib_version: VERSION,
      ...properties,
    },
    ...fields,
  };
  const user = userId();
  if (user) record.user_id = user;
  enqueue(record);
}

function pageview(referrer) {
  lastUrl = location.href;
  capture("$pageview", { $title: document.title }, referrer ? { referrer: referrer.slice(0, MAX_URL) } : {});
}

// A single-page app changes the URL without loading a page: a pageview when it really
// changed, with the previous URL as the referrer.
function navigated() {
  if (location.href != lastUrl) pageview(lastUrl);
}

export function init(apiKey, options = {}) {
  if (started || !apiKey) return;
  started = true;
  configure(options.host || scriptOrigin, apiKey);
  const hide = () => flush(true);
  document.addEventListener("visibilitychange", () => document.visibilityState == "hidden" && hide());
  addEventListener("pagehide", hide);
  if (options.pageviews === false) return;
  for (const name of ["pushState", "replaceState"]) {
    const original = history[name];
    history[name] = function (...args) {
      const result = original.apply(this, args);
      navigated();
      return result;
    };
  }
  addEventListener("popstate", navigated);
  pageview(document.referrer);
}

const isObject = (value) => value && typeof value == "object" && !Array.isArray(value);

export function track(event, properties) {
  capture(event, isObject(properties) ? properties : {});
}

// Link the anonymous id to a known user: `$identify` carries both ids, and every later
// event carries user_id. Identifying another user first forgets the previous one.
export function identify(id, traits) {
  if (id == null || id === "") return;
  id = String(id);
  const previous = userId();
  if (previous && previous != id) forget();
  if (previous == id && !isObject(traits)) return;
  setUserId(id);
  capture("$identify", isObject(traits) ? { $set: traits } : {});
}

// Log out: forget the user, start a new anonymous id and a new session.
export function reset() {
  forget();
}

export { flush };

if (!window.pulseboard) {
  window.pulseboard = { init, track, identify, reset, flush: () => flush() };
  if (script?.dataset.apiKey) init(script.dataset.apiKey, { host: script.dataset.host });
}
