// The soak test's client: a real EventSource (npm `eventsource`) that also aborts by itself
// at random points — es.close(), then a new EventSource resuming with the last id it
// received, exactly as an application reopening its stream would. Between its own aborts
// the library reconnects by itself (with its own Last-Event-ID) whenever the connection
// dies. Prints one JSON line per record on stdout:
//   {"t":"open"} {"t":"m","id":..,"d":..} {"t":"abort","why":"count"|"timer"|..}
//   {"t":"error","msg":..,"state":..} {"t":"late"} (an event a closed source still parsed)
// Reads commands on stdin: "calm" stops the aborts (to let the client catch up).
//   node soak_client.mjs URL START_ID SEED MAX_EVENTS_PER_LIFE MIN_MS MAX_MS [LANES]
// LANES independent streams (each its own EventSource and last id) multiply the churn;
// every record carries its lane "l".
import { createInterface } from "node:readline";
import { EventSource } from "eventsource";

const [url, startId, seedArg, maxEventsArg, minMsArg, maxMsArg, lanesArg] = process.argv.slice(2);
const lanesCount = Number(lanesArg || 1);
const maxEvents = Number(maxEventsArg);
const minMs = Number(minMsArg);
const maxMs = Number(maxMsArg);

// mulberry32: a small seeded PRNG, so a failing run can be replayed with the same seed.
let seed = Number(seedArg) >>> 0;
const random = () => {
  seed = (seed + 0x6d2b79f5) >>> 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};

const out = [];
const emit = (record) => {
  out.push(JSON.stringify(record));
  if (out.length >= 64) flush();
};
const flush = () => {
  if (out.length) process.stdout.write(out.join("\n") + "\n");
  out.length = 0;
};
setInterval(flush, 20);

let calm = false;
const lanes = [];

// One lane: one stream of the client, its own EventSource and last id.
function lane(number) {
  let lastId = startId;
  let current = null;
  let timer = null;
  const say = (record) => emit({ l: number, ...record });

  // The library sends its own Last-Event-ID once its source has seen an event; before
  // that (a new source, or one cut before its first event) the last id this lane received.
  const fetchWithLastId = (input, options) => {
    const headers = { ...options.headers };
    const known = Object.keys(headers).some((name) => name.toLowerCase() === "last-event-id");
    if (!known) headers["Last-Event-ID"] = lastId;
    return fetch(input, { ...options, headers });
  };

  const abort = (why) => {
    if (calm) return;
    say({ t: "abort", why });
    current.close();
    open();
  };
  const arm = (ms, why) => {
    clearTimeout(timer);
    timer = setTimeout(() => abort(why), ms);
  };

  const open = () => {
    clearTimeout(timer);
    const source = new EventSource(url, { fetch: fetchWithLastId });
    current = source;
    const quota = 1 + Math.floor(random() * maxEvents);
    let received = 0;
    // Mostly a while after the stream opened; sometimes while it is still being set up.
    const early = random() < 0.05;
    const delay = minMs + random() * (maxMs - minMs);
    if (early && !calm) arm(random() * 300, "timer-before-open");
    source.onopen = () => {
      if (source !== current) return;
      say({ t: "open" });
      if (!early && !calm) arm(delay, "timer");
    };
    source.onmessage = (event) => {
      if (source !== current) {
        // close() inside onmessage does not stop the parser from dispatching the rest of
        // the chunk it is parsing: those events belong to a stream this lane has left.
        say({ t: "late" });
        return;
      }
      lastId = event.lastEventId;
      say({ t: "m", id: event.lastEventId, d: event.data });
      if (++received >= quota && !calm) abort("count");
    };
    source.onerror = (event) => {
      if (source !== current) return;
      say({ t: "error", msg: event.message || null, code: event.code || null, state: source.readyState });
      if (source.readyState === source.CLOSED) {
        // The library gave up (an HTTP error status): start over as an application would.
        setTimeout(() => source === current && open(), 100);
      }
    };
  };
  return { open, calm: () => clearTimeout(timer) };
}

createInterface({ input: process.stdin }).on("line", (line) => {
  if (line.trim() === "calm") {
    calm = true;
    for (const each of lanes) each.calm();
    emit({ t: "calm" });
    flush();
  }
});
process.stdout.on("error", () => process.exit(0));
for (let number = 0; number < lanesCount; number++) lanes.push(lane(number));
for (const each of lanes) each.open();
