// Many real EventSources (npm `eventsource`) in one process, for the deployment tests: each
// "lane" is one client streaming URL from START_ID and checking, per partition, that the
// numbered events ({"p": partition, "seq": n}) follow each other with no gap and no
// duplicate, across every reconnect the library makes by itself (with its Last-Event-ID).
//   node fleet_client.mjs URL START_ID LANES
// Prints JSON lines on stdout:
//   {"t":"sum","lanes":[{last, n, gaps, dups, serverErrors, connErrors, opens, closed, open}]}
//       every 200 ms and on exit (last: partition -> last seq)
//   {"t":"resume","l":lane,"ms":..,"caughtUp":..}  after a reconnect: ms from the lost
//       connection to the new one, and how many events the client then received that had
//       been produced before it was back (what it missed while away, delivered on resume)
//   {"t":"bad","l":lane,"p":..,"expected":..,"got":..,"id":..}  a gap or a duplicate
//   {"t":"serverError","l":lane,"data":..}  an `event: error` the server sent
import { EventSource } from "eventsource";

const [url, startId, lanesArg] = process.argv.slice(2);
const emit = (record) => process.stdout.write(JSON.stringify(record) + "\n");

function lane(number) {
  const state = {
    last: {}, n: 0, gaps: 0, dups: 0, serverErrors: 0, connErrors: 0, opens: 0, closed: 0,
    open: false,
  };
  let downAt = null;
  let resumedAt = null;
  let caughtUp = 0;
  // Only the first request starts from START_ID: afterwards the library's own id wins.
  const fetchWithStart = (input, options) => {
    const headers = { ...options.headers };
    const known = Object.keys(headers).some((name) => name.toLowerCase() === "last-event-id");
    if (!known) headers["Last-Event-ID"] = startId;
    return fetch(input, { ...options, headers });
  };
  const source = new EventSource(url, { fetch: fetchWithStart });
  source.onopen = () => {
    state.opens++;
    state.open = true;
    if (downAt !== null) {
      resumedAt = Date.now();
      caughtUp = 0;
    }
  };
  source.onmessage = (event) => {
    const data = JSON.parse(event.data);
    if (resumedAt !== null) {
      if (data._kafka.timestamp < resumedAt) caughtUp++;
      else {
        emit({ t: "resume", l: number, ms: resumedAt - downAt, caughtUp });
        resumedAt = null;
        downAt = null;
      }
    }
    state.n++;
    const expected = state.last[data.p] === undefined ? 0 : state.last[data.p] + 1;
    if (data.seq !== expected) {
      if (data.seq < expected) state.dups++;
      else state.gaps += data.seq - expected;
      emit({ t: "bad", l: number, p: data.p, expected, got: data.seq, id: event.lastEventId });
    }
    state.last[data.p] = Math.max(data.seq, expected - 1);
  };
  source.onerror = (event) => {
    if (event.data !== undefined) {
      // A MessageEvent: `event: error` sent by the server, not a lost connection.
      state.serverErrors++;
      emit({ t: "serverError", l: number, data: event.data });
      return;
    }
    state.connErrors++;
    state.open = false;
    if (downAt === null || resumedAt !== null) downAt = Date.now();
    resumedAt = null;
    if (source.readyState === source.CLOSED) state.closed++; // the library gave up
  };
  return state;
}

const lanes = [];
for (let number = 0; number < Number(lanesArg); number++) lanes.push(lane(number));
const summary = () => emit({ t: "sum", lanes });
setInterval(summary, 200);
process.stdout.on("error", () => process.exit(0));
process.on("SIGTERM", () => { summary(); process.exit(0); });
