// A real EventSource client (the npm `eventsource` package) for the tests: prints one JSON
// line per open, message and error on stdout. It reconnects by itself, sending
// Last-Event-ID, exactly as a browser does.
//   node es_client.mjs URL MAX_EVENTS TIMEOUT_MS [LAST_EVENT_ID]
// ES_HEADERS='{"Authorization": "Bearer …"}' adds headers to every request (what a browser's
// EventSource cannot do, and this package can through its fetch option).
import { EventSource } from "eventsource";

const [url, maxEvents, timeoutMs, lastEventId] = process.argv.slice(2);
const extraHeaders = process.env.ES_HEADERS ? JSON.parse(process.env.ES_HEADERS) : {};
const init = {};
if (lastEventId || process.env.ES_HEADERS) {
  init.fetch = (input, options) => {
    const headers = { ...options.headers, ...extraHeaders };
    // Only the first request starts from the given id: once the client has seen events, its
    // own Last-Event-ID (set by the library on reconnect) must win.
    const known = Object.keys(headers).some((name) => name.toLowerCase() === "last-event-id");
    if (lastEventId && !known) headers["Last-Event-ID"] = lastEventId;
    return fetch(input, { ...options, headers });
  };
}
const source = new EventSource(url, init);
let received = 0;
const emit = (record) => process.stdout.write(JSON.stringify(record) + "\n");
const finish = (code) => { source.close(); process.exit(code); };

source.onopen = () => emit({ type: "open" });
source.onmessage = (event) => {
  emit({ type: "message", id: event.lastEventId, data: event.data });
  if (++received >= Number(maxEvents)) finish(0);
};
source.addEventListener("error", (event) => emit({ type: "error", message: event.message || null, data: event.data || null }));
setTimeout(() => finish(0), Number(timeoutMs));
