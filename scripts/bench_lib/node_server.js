// The Node original under the same load: GET /<topic>[,<topic>] streams with kafka-sse.
// Env: BENCH_BOOTSTRAP (brokers), PORT. Run with NODE_PATH pointing at the npm cache.
'use strict';
const http = require('http');
const kafkaSse = require('kafka-sse');

const bootstrap = process.env.BENCH_BOOTSTRAP || '127.0.0.1:9092';
const port = parseInt(process.env.PORT || '6928', 10);
const quiet = { info() {}, debug() {}, trace() {}, warn() {}, error: console.error,
  fatal: console.error, child() { return quiet; } };

http.createServer((req, res) => {
  const topics = decodeURIComponent(req.url.split('?')[0].replace(/^\/+/, '')).split(',');
  kafkaSse(req, res, topics, {
    kafkaConfig: { 'metadata.broker.list': bootstrap },
    logger: quiet,
  }).catch((err) => console.error('kafka-sse failed:', err && err.message));
}).listen(port, '127.0.0.1', () => console.log(`listening on ${port}`));
