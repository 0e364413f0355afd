// chatbench's open-model load generator: an instrument independent of Locust, to cross-check
// latency tails and SLO rates (docs/crosscheck.md, "The open-model generator").
//
// Arrivals (--arrivals, as Locust's rate mode: loadtests/arrivals.py): one global schedule.
// even (default): request i is intended at t0 + i / rate, which offers every service and every
// repetition exactly the same load, so a tail that differs comes from the service. poisson:
// independent exponential gaps of mean 1 / rate from a seeded generator of their own (--seed),
// the bursts of many independent clients, which queue even on an ideal server.
//
// Timing: a worker thread keeps the clock and hands each slot to the main thread when it is
// due (Atomics.wait sleeps for fractions of a millisecond, where a setTimeout in the main loop
// has libuv's millisecond clock, whose slack would count in every latency). The main thread
// sends the slot on an idle keep-alive connection of its pool (N undici Clients, one request in
// flight each, the connection idle longest first). A slot that comes while every connection is
// busy waits in a FIFO queue. Latency always counts from the slot's INTENDED time to the end of the response
// body, so waiting for a connection, a late event loop or a stalled service all count
// (coordinated-omission correction). A send that starts more than 5 ms after its intended time
// is "behind schedule"; a slot due in the measured window that had not been sent when the
// window closed is "dropped".
//
// Window: requests completing before t0 + warmup are warm-up, those completing in
// [t0 + warmup, t0 + warmup + duration) are measured, later ones are drain; warm-up and drain
// are counted, never measured. At the window's end no further slot is sent; the requests in
// flight are awaited (drain) so the count of successful creates is exact. Only successful
// responses (the expected status) have a latency; any other status, or an error, is a failure.
//
// Output: one JSON file (--out, format_version 1) read by chatbench.load.openmodel. Loopback
// targets only (exit code 2 otherwise, as for any bad argument). Installed by `make tools`
// (npm ci with the committed package-lock.json).
//
//   node openmodel.mjs --target http://127.0.0.1:8000 --scenario chat --rate 400 \
//     --connections 100 --warmup-s 5 --duration-s 20 --contents contents.json --out out.json

import { lookup } from 'node:dns/promises'
import { readFileSync, renameSync, writeFileSync } from 'node:fs'
import { isIP } from 'node:net'
import { monitorEventLoopDelay, performance } from 'node:perf_hooks'
import { parseArgs } from 'node:util'
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads'

const FORMAT_VERSION = 1
const COLLECTION = '/api/chat/messages'
const CREATE = `POST ${COLLECTION}`
const HISTORY = `GET ${COLLECTION}`
const DETAIL = `GET ${COLLECTION}/{id}`
const HISTORY_LIMIT = 50
const LATE_MS = 5 // a send later than this after its intended time is behind schedule
const REQUEST_TIMEOUT_MS = 10_000
const DRAIN_TIMEOUT_MS = 15_000
const START_LEAD_MS = 200 // without --start-at: t0 this long after the program is ready
const LOOP_RESOLUTION_MS = 10
const SCENARIOS = ['chat', 'detail']
const ARRIVALS = ['even', 'poisson']

const now = () => performance.timeOrigin + performance.now() // epoch ms, sub-ms resolution

class Usage extends Error {}

// mulberry32: a small seeded generator, so a seed gives the same requests every run.
function seeded (seed) {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

// --- the clock (worker thread) --------------------------------------------------------------

// The i-th intended send time (epoch ms) of each arrival process, one call per send.
function arrivalTimes ({ t0, rate, arrivals, seed }) {
  if (arrivals === 'even') {
    let i = 0
    return () => t0 + i++ * 1000 / rate
  }
  const rng = seeded((seed ^ 0x5bd1e995) >>> 0) // not the request mix's generator
  let t = t0
  return () => { t += -Math.log(1 - rng()) * 1000 / rate; return t }
}

function runClock ({ t0, end, rate, arrivals, seed }) {
  const cell = new Int32Array(new SharedArrayBuffer(4))
  const next = arrivalTimes({ t0, rate, arrivals, seed })
  for (let intended = next(); intended < end; intended = next()) {
    const wait = intended - now()
    if (wait > 0) Atomics.wait(cell, 0, 0, wait)
    parentPort.postMessage(intended)
  }
  const wait = end - now()
  if (wait > 0) Atomics.wait(cell, 0, 0, wait)
  parentPort.postMessage(-1) // the window closed: every slot before it was posted first
}

// --- arguments --------------------------------------------------------------------------------

function parseOptions (argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      target: { type: 'string' },
      scenario: { type: 'string', default: 'chat' },
      rate: { type: 'string' },
      arrivals: { type: 'string', default: 'even' },
      connections: { type: 'string', default: '20' },
      sessions: { type: 'string' },
      'warmup-s': { type: 'string', default: '0' },
      'duration-s': { type: 'string' },
      seed: { type: 'string', default: '1' },
      'seed-sessions': { type: 'string', default: '0' },
      'seed-messages': { type: 'string', default: '0' },
      'start-at': { type: 'string' },
      contents: { type: 'string' },
      out: { type: 'string' }
    },
    strict: true
  })
  const num = (name, { min = -Infinity, integer = false, strictMin = false } = {}) => {
    const text = values[name]
    const x = Number(text)
    if (text === undefined || text === '' || !Number.isFinite(x) || (integer && !Number.isInteger(x)) ||
        (strictMin ? x <= min : x < min)) {
      throw new Usage(`--${name} must be ${integer ? 'an integer' : 'a number'} ${strictMin ? '>' : '>='} ${min}, not ${JSON.stringify(text)}`)
    }
    return x
  }
  if (!values.target) throw new Usage('--target URL is required')
  if (!values.out) throw new Usage('--out FILE is required')
  if (!SCENARIOS.includes(values.scenario)) throw new Usage(`--scenario must be one of ${SCENARIOS.join(', ')}, not ${JSON.stringify(values.scenario)}`)
  if (!ARRIVALS.includes(values.arrivals)) throw new Usage(`--arrivals must be one of ${ARRIVALS.join(', ')}, not ${JSON.stringify(values.arrivals)}`)
  const opts = {
    target: values.target,
    scenario: values.scenario,
    rate: num('rate', { min: 0, strictMin: true }),
    arrivals: values.arrivals,
    connections: num('connections', { min: 1, integer: true }),
    warmupS: num('warmup-s', { min: 0 }),
    durationS: num('duration-s', { min: 0, strictMin: true }),
    seed: num('seed', { min: 0, integer: true }),
    seedSessions: num('seed-sessions', { min: 0, integer: true }),
    seedMessages: num('seed-messages', { min: 0, integer: true }),
    startAt: values['start-at'] === undefined ? null : num('start-at', { min: 0, strictMin: true }),
    out: values.out
  }
  opts.sessions = values.sessions === undefined ? opts.connections : num('sessions', { min: 1, integer: true })
  if (opts.scenario === 'detail' && opts.seedSessions * opts.seedMessages < 1) {
    throw new Usage('the detail scenario needs --seed-sessions and --seed-messages >= 1')
  }
  if (opts.scenario === 'chat') {
    if (!values.contents) throw new Usage('the chat scenario needs --contents FILE (message texts per role)')
    opts.contents = readContents(values.contents)
  }
  return opts
}

function readContents (path) {
  let doc
  try {
    doc = JSON.parse(readFileSync(path, 'utf8'))
  } catch (err) {
    throw new Usage(`cannot read --contents ${path}: ${err.message}`)
  }
  for (const role of ['user', 'assistant']) {
    if (!Array.isArray(doc[role]) || !doc[role].length || !doc[role].every(t => typeof t === 'string' && t)) {
      throw new Usage(`--contents ${path}: "${role}" must be a non-empty list of non-empty strings`)
    }
  }
  return doc
}

function isLoopback (address) {
  if (isIP(address) === 4) return address.startsWith('127.')
  const v6 = address.toLowerCase()
  return v6 === '::1' || (v6.startsWith('::ffff:') && isLoopback(v6.slice(7)))
}

async function checkTarget (target) {
  let url
  try {
    url = new URL(target)
  } catch {
    throw new Usage(`target ${JSON.stringify(target)} is not an http(s) URL with a host`)
  }
  if (!['http:', 'https:'].includes(url.protocol) || !url.hostname) {
    throw new Usage(`target ${JSON.stringify(target)} is not an http(s) URL with a host`)
  }
  const host = url.hostname.replace(/^\[|\]$/g, '')
  let addresses
  try {
    addresses = (await lookup(host, { all: true })).map(a => a.address)
  } catch (err) {
    throw new Usage(`cannot resolve target host ${JSON.stringify(host)}: ${err.code || err.message}`)
  }
  const remote = addresses.filter(a => !isLoopback(a))
  if (remote.length) {
    throw new Usage(`target ${target} resolves to non-loopback ${remote.join(', ')}; load is only sent to services on this machine`)
  }
  return url.origin
}

// --- the request mix ------------------------------------------------------------------------

const JSON_HEADERS = { 'content-type': 'application/json', accept: 'application/json' }
const GET_HEADERS = { accept: 'application/json' }

// A JSON string as Python's json.dumps writes it (ensure_ascii): what Locust sends.
const pyString = (text) => JSON.stringify(text).replace(/[\u007f-\uffff]/g,
  c => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'))

// Each scenario: next(slot) -> the request for a slot. Chat: sessions take the slots in turn,
// each cycling user message -> assistant reply -> its latest history page, as the chat workload (loadtests/workloads/chat.toml).
function requestMix (opts) {
  const rng = seeded(opts.seed)
  if (opts.scenario === 'detail') {
    const rows = opts.seedSessions * opts.seedMessages
    return () => ({ label: DETAIL, method: 'GET', path: `${COLLECTION}/${1 + Math.floor(rng() * rows)}`, expect: 200 })
  }
  const sessions = Array.from({ length: opts.sessions }, (_, k) => ({
    id: `om-${process.pid}-${k}`, step: 0, ids: [] // the newest HISTORY_LIMIT + 1 ids
  }))
  let turn = 0
  return () => {
    const session = sessions[turn]
    turn = (turn + 1) % sessions.length
    const step = session.step
    session.step = (step + 1) % 3
    if (step < 2) {
      const role = step === 0 ? 'user' : 'assistant'
      const pool = opts.contents[role]
      const text = pool[Math.floor(rng() * pool.length)]
      const body = `{"role": "${role}", "content": ${pyString(text)}, "session_id": "${session.id}"}`
      return { label: CREATE, method: 'POST', path: COLLECTION, body, expect: 201, session }
    }
    let query = `session_id=${session.id}&limit=${HISTORY_LIMIT}`
    if (session.ids.length > HISTORY_LIMIT) query += `&after_id=${session.ids[0]}`
    return { label: HISTORY, method: 'GET', path: `${COLLECTION}?${query}`, expect: 200 }
  }
}

// --- the run ----------------------------------------------------------------------------------

class Counts {
  constructor () { this.count = 0; this.failures = 0 }
  toJSON () { return { count: this.count, failures: this.failures } }
}

function counter (table, label) {
  return table[label] || (table[label] = new Counts())
}

function quantile (sorted, q) {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] : null
}

async function run (opts, origin) {
  const { Client } = await import('undici')
  const undiciVersion = JSON.parse(readFileSync(new URL('./node_modules/undici/package.json', import.meta.url), 'utf8')).version
  const t0 = opts.startAt !== null ? opts.startAt * 1000 : now() + START_LEAD_MS
  const start = t0 + opts.warmupS * 1000
  const end = start + opts.durationS * 1000
  const next = requestMix(opts)

  const clientOptions = {
    pipelining: 1,
    headersTimeout: REQUEST_TIMEOUT_MS,
    bodyTimeout: REQUEST_TIMEOUT_MS,
    keepAliveTimeout: 60_000
  }
  const clients = Array.from({ length: opts.connections }, () => new Client(origin, clientOptions))
  const idle = [...clients] // FIFO: the connection idle longest sends next
  const waiting = [] // intended times of slots waiting for a connection, oldest first
  let closed = false

  const totals = {}
  const outside = { warmup: {}, drain: {} }
  const endpoints = {} // measured window: label -> {counts, latencies_us, completed_ms}
  const creates = { warmup: 0, measured: 0, drain: 0, started: 0, completed: 0 }
  const errors = {}
  const sendLags = [] // ms, sends due in the window
  let scheduled = 0
  let sentOnTime = 0
  let behind = 0
  let inFlight = 0
  let drained = null

  const record = (req, intended, ok, done) => {
    const total = counter(totals, req.label)
    total.count++
    total.failures += ok ? 0 : 1
    if (done < start || done >= end) {
      const phase = done < start ? 'warmup' : 'drain'
      const row = counter(outside[phase], req.label)
      row.count++
      row.failures += ok ? 0 : 1
      if (ok && req.method === 'POST') creates[phase]++
      return
    }
    const row = endpoints[req.label] || (endpoints[req.label] = { counts: new Counts(), latencies_us: [], completed_ms: [] })
    row.counts.count++
    if (!ok) {
      row.counts.failures++
      return
    }
    row.latencies_us.push(Math.max(1, Math.round((done - intended) * 1000)))
    row.completed_ms.push(Math.floor(done - start))
    if (req.method === 'POST') creates.measured++
  }

  const fail = (message) => { errors[message] = (errors[message] || 0) + 1 }

  const send = async (client, intended) => {
    const req = next()
    const sent = now()
    if (intended >= start && intended < end) {
      sentOnTime++
      sendLags.push(sent - intended)
      if (sent - intended > LATE_MS) behind++
    }
    inFlight++
    if (req.method === 'POST') creates.started++
    let ok = false
    try {
      const res = await client.request({
        method: req.method,
        path: req.path,
        headers: req.body ? JSON_HEADERS : GET_HEADERS,
        body: req.body
      })
      if (res.statusCode === req.expect && req.method === 'POST') {
        const created = await res.body.json().catch(() => null)
        ok = Number.isInteger(created?.id)
        if (ok) {
          req.session.ids.push(created.id)
          if (req.session.ids.length > HISTORY_LIMIT + 1) req.session.ids.shift()
        } else {
          fail('response body is not JSON with an integer id')
        }
      } else {
        await res.body.arrayBuffer()
        ok = res.statusCode === req.expect
        if (!ok) fail(`HTTP ${res.statusCode}, expected ${req.expect}`)
      }
    } catch (err) {
      fail(err.code || err.message)
    }
    const done = now()
    if (req.method === 'POST') creates.completed++
    record(req, intended, ok, done)
    inFlight--
    idle.push(client)
    pump()
    if (closed && inFlight === 0 && drained) drained()
  }

  const pump = () => {
    while (!closed && idle.length && waiting.length) send(idle.shift(), waiting.shift())
  }

  const loop = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS })
  const loopTimer = setTimeout(() => loop.enable(), Math.max(0, start - now()))

  const clock = new Worker(new URL(import.meta.url), {
    workerData: { t0, end, rate: opts.rate, arrivals: opts.arrivals, seed: opts.seed }
  })
  await new Promise((resolve, reject) => {
    clock.on('error', reject)
    clock.on('message', (intended) => {
      if (intended >= 0) {
        if (intended >= start) scheduled++
        waiting.push(intended)
        pump()
        return
      }
      closed = true
      resolve()
    })
  })
  clearTimeout(loopTimer)
  loop.disable()
  const closedAt = now()
  const unsent = waiting.length
  const dropped = waiting.filter(t => t >= start).length
  await clock.terminate()

  if (inFlight > 0) {
    await new Promise(resolve => {
      const timer = setTimeout(resolve, DRAIN_TIMEOUT_MS)
      drained = () => { clearTimeout(timer); resolve() }
    })
  }
  const unfinishedCreates = creates.started - creates.completed
  await Promise.all(clients.map(c => c.destroy().catch(() => {})))

  sendLags.sort((a, b) => a - b)
  const lagMs = (x) => x === null ? null : Math.round(x * 1000) / 1000
  const loopLag = (q) => loop.count ? Math.max(0, loop.percentile(q) / 1e6 - LOOP_RESOLUTION_MS) : null
  const durationS = opts.durationS
  return {
    format_version: FORMAT_VERSION,
    tool: 'openmodel',
    node: process.versions.node,
    undici: undiciVersion,
    target: origin,
    scenario: opts.scenario,
    target_rate: opts.rate,
    arrivals: opts.arrivals,
    connections: opts.connections,
    sessions: opts.scenario === 'chat' ? opts.sessions : null,
    seed: opts.seed,
    t0: t0 / 1000,
    warmup_s: opts.warmupS,
    measure_start: start / 1000,
    measure_end: end / 1000,
    duration_s: durationS,
    closed_late_ms: Math.round((closedAt - end) * 1000) / 1000,
    scheduled,
    sent_on_time: sentOnTime,
    behind_schedule: behind,
    dropped,
    unsent,
    achieved_rate: sentOnTime / durationS,
    send_lag_ms: { p50: lagMs(quantile(sendLags, 0.5)), p99: lagMs(quantile(sendLags, 0.99)), max: lagMs(sendLags.at(-1) ?? null) },
    loop_lag: {
      interval_ms: LOOP_RESOLUTION_MS,
      count: loop.count,
      p99_ms: loopLag(99),
      max_ms: loop.count ? Math.max(0, loop.max / 1e6 - LOOP_RESOLUTION_MS) : null
    },
    endpoints: Object.fromEntries(Object.entries(endpoints).sort().map(([label, row]) => [label, {
      count: row.counts.count, failures: row.counts.failures, latencies_us: row.latencies_us, completed_ms: row.completed_ms
    }])),
    totals,
    outside_window: outside,
    successful_creates: creates.measured,
    warmup_successful_creates: creates.warmup,
    drain_successful_creates: creates.drain,
    successful_creates_total: creates.warmup + creates.measured + creates.drain,
    unfinished_creates: unfinishedCreates,
    errors
  }
}

async function main () {
  let opts, origin
  try {
    opts = parseOptions(process.argv.slice(2))
    origin = await checkTarget(opts.target)
  } catch (err) {
    if (err instanceof Usage || err.code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`openmodel: ${err.message}\n`)
      process.exit(2)
    }
    throw err
  }
  const doc = await run(opts, origin)
  const tmp = `${opts.out}.tmp-${process.pid}`
  writeFileSync(tmp, JSON.stringify(doc))
  renameSync(tmp, opts.out)
  const measured = Object.values(doc.endpoints).reduce((n, e) => n + e.count, 0)
  process.stdout.write(`openmodel: ${doc.scenario} at ${doc.target_rate} req/s: ${measured} measured, ` +
    `${doc.sent_on_time}/${doc.scheduled} sent on time, ${doc.behind_schedule} behind, ${doc.dropped} dropped\n`)
}

if (isMainThread) {
  main().catch(err => {
    process.stderr.write(`openmodel: ${err.stack || err}\n`)
    process.exit(1)
  })
} else {
  runClock(workerData)
}
