#!/usr/bin/env node
// A scriptable SMSC for textgate's SMPP connector tests, built on the npm package `smpp` (not on textgate's
// own Python code, so the connector is tested against an independent SMPP implementation).
//
// Usage: node server.js [--port N] [--control-port N] [--system-id ID] [--password PW] [--id-base N]
// Prints one JSON line on stdout once listening: {"smpp_port": N, "control_port": N, "pid": N}.
// Both listen on 127.0.0.1 only.
//
// Behaviour per destination address (set with POST /rules; destination as sent, e.g. "447700900001"):
//   status              submit_sm_resp command_status, by name ("ESME_RTHROTTLED") or number; default ROK
//   resp_delay_ms       delay before submit_sm_resp (fills the ESME's window); default 0
//   receipt             receipt stat ("DELIVRD", "UNDELIV", ...) or null for none; default "DELIVRD"
//                       (only when the submit asked for one: registered_delivery & 1)
//   receipt_delay_ms    delay after the response (or before it, see below); default 20
//   receipt_before_resp send the receipt first and the submit_sm_resp only after it; default false
//   receipt_before_resp_every  do that for every Nth accepted submit only
//   receipt_id          how the receipt writes the id: "same" | "dec" | "lower" (hex, lowercase, no
//                       leading zeros); default "same"
//   receipt_tlvs        also send receipted_message_id + message_state TLVs; default false
//   receipt_text        "full" (id: sub: ... text:) or "none" (TLVs only); default "full"
//   receipt_err         err: value in the receipt text; default "000" / "001" when not delivered
//   receipt_parts       {"2": "UNDELIV"}: receipt stat per part number (UDH or SAR sequence number)
//   receipt_seconds     write the receipt's dates with seconds (YYMMDDhhmmss); default false
//   throttle_every      answer every Nth submit_sm (counted over all destinations using the rule) with
//                       ESME_RTHROTTLED instead; default 0 (never)
//   slow_every, slow_ms answer every Nth submit_sm only after slow_ms (longer than the ESME's timeout)
//   slow_first          answer the first N submit_sm using the rule only after slow_ms
//   fail_parts          {"2": "ESME_RSYSERR"}: refuse the first submit of that part number (per
//                       destination) with that status, accept it when it comes again
//   drop_at_outstanding when a session has this many submits unanswered, drop it abruptly (responses
//                       not sent; the submits were not taken); drop_times: how often (default 1)
// Session-wide limits (POST /limits): {"tps": N} answers ESME_RTHROTTLED to submits beyond N a second per
// session (a sliding one-second window), as a carrier enforcing a contracted rate does.
// Receipts for a session that is gone, and deliver_sm left unanswered when a session drops, are kept and
// sent on the next bind of a session that can receive (as an SMSC keeps them for an unbound ESME).
// Message ids are (id-base + counter) as 8-digit upper-case hex, e.g. "000F4241".
//
// Control channel (HTTP, JSON bodies):
//   GET  /received[?command=submit_sm]   what the SMSC received (PDU fields), in order
//   GET  /sessions                       bound sessions
//   GET  /stats                          {max_outstanding: {session: n}, outstanding: {...}}
//   POST /reset                          forget rules and records
//   POST /rules {"dest": "...", "rule": {...}} | {"default": {...}}
//   POST /deliver {source, dest, text, parts?, udh?: "8"|"16"|"sar", data_coding?: 0|8, ref?, order?,
//                  esm_class?, only?: [part numbers]}         push an MO deliver_sm (multi-part when parts > 1); esm_class 4
//                                        makes it a receipt whose text is `text` (for ids never submitted)
//   POST /drop {session?}                close SMPP connections abruptly (all, or one); the process stays
//   POST /refuse_binds {seconds, status?} answer binds with an error (default ESME_RBINDFAIL) meanwhile
//   POST /outage {seconds}               drop every session and refuse connections (stop listening) for
//                                        that long, then listen again on the same port
//   POST /limits {tps?}                  session-wide limits (see above); {} clears them
//   GET  /counts                         {submits, accepted, throttled, distinct: {dest|ref|n: count},
//                                         per_second: {epoch second: accepted}}
'use strict';

const http = require('http');
const smpp = require('smpp');

function arg(name, fallback) {
  const i = process.argv.indexOf('--' + name);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

const SYSTEM_ID = arg('system-id', 'textgate');
const PASSWORD = arg('password', 'secret');
let nextId = Number(arg('id-base', '1000000'));

const records = [];
let rules = {};
let defaultRule = {};
let limits = {};
let refuseBindsUntil = 0;
let refuseBindStatus = 0;
let outageUntil = 0;
const counters = { submits: 0, accepted: 0, throttled: 0 };
const ruleCounters = {};
let dropsDone = 0;
const keptDelivers = []; // deliver_sm options waiting for a bound receiver
let sessionCounter = 0;
const sessions = new Map(); // number -> {session, system_id, mode, outstanding, max_outstanding}
const stats = {};

const ERRORS = smpp.errors;
const STATES = { ENROUTE: 1, DELIVRD: 2, EXPIRED: 3, DELETED: 4, UNDELIV: 5, ACCEPTD: 6, UNKNOWN: 7, REJECTD: 8 };

function statusCode(value) {
  if (value === undefined || value === null) return 0;
  if (typeof value === 'number') return value;
  if (!(value in ERRORS)) throw new Error('unknown status ' + value);
  return ERRORS[value];
}

function ruleFor(dest) {
  return Object.assign({}, defaultRule, rules[dest] || {});
}

function hex(buffers) {
  return (buffers || []).map((b) => Buffer.from(b).toString('hex'));
}

function textOf(value) {
  if (value === undefined || value === null) return null;
  if (Buffer.isBuffer(value)) return value.toString('latin1');
  return value.message !== undefined ? String(value.message) : String(value);
}

function smppTime(date, seconds) {
  const p = (n) => String(n).padStart(2, '0');
  return p(date.getUTCFullYear() % 100) + p(date.getUTCMonth() + 1) + p(date.getUTCDate()) +
    p(date.getUTCHours()) + p(date.getUTCMinutes()) + (seconds ? p(date.getUTCSeconds()) : '');
}

function partNumber(entry) {
  if (entry.sar_segment_seqnum !== null) return entry.sar_segment_seqnum;
  for (const udh of entry.udh) {
    if (udh.startsWith('0003')) return parseInt(udh.slice(8, 10), 16);
    if (udh.startsWith('0804')) return parseInt(udh.slice(10, 12), 16);
  }
  return 1;
}

function renderId(id, style) {
  if (style === 'dec') return String(id);
  if (style === 'lower') return id.toString(16);
  return id.toString(16).toUpperCase().padStart(8, '0');
}

function record(entry) {
  entry.at = Date.now();
  records.push(entry);
}

function sendReceipt(info, submitted, id, rule) {
  const byPart = rule.receipt_parts || {};
  const stat = byPart[String(partNumber(submitted))] || rule.receipt;
  const delivered = stat === 'DELIVRD';
  const rid = renderId(id, rule.receipt_id || 'same');
  const err = rule.receipt_err || (delivered ? '000' : '001');
  const now = new Date();
  const options = {
    source_addr: submitted.destination_addr,
    source_addr_ton: submitted.dest_addr_ton,
    source_addr_npi: submitted.dest_addr_npi,
    destination_addr: submitted.source_addr,
    dest_addr_ton: submitted.source_addr_ton,
    dest_addr_npi: submitted.source_addr_npi,
    esm_class: 0x04,
    data_coding: 0,
  };
  if ((rule.receipt_text || 'full') === 'full') {
    const text = 'id:' + rid + ' sub:001 dlvrd:' + (delivered ? '001' : '000') +
      ' submit date:' + smppTime(info.submitted_at, rule.receipt_seconds) +
      ' done date:' + smppTime(now, rule.receipt_seconds) +
      ' stat:' + stat + ' err:' + err + ' text:' + (submitted.text || '').slice(0, 20);
    options.short_message = Buffer.from(text, 'latin1');
  } else {
    options.short_message = Buffer.alloc(0);
  }
  if (rule.receipt_tlvs) {
    options.receipted_message_id = rid;
    options.message_state = STATES[stat] || 7;
  }
  options._receipt_for = rid;
  options._stat = stat;
  pushDeliver(options, info.number);
}

// Send a deliver_sm to the session it belongs to if it can take it, else any receiver, else keep it.
function pushDeliver(options, preferred) {
  let target = sessions.get(preferred);
  if (!target || target.mode === 'transmitter' || !target.session.socket.writable) {
    target = [...sessions.values()].find((s) => s.mode !== 'transmitter' && s.session.socket.writable);
  }
  if (!target) {
    keptDelivers.push(options);
    return;
  }
  const wire = Object.assign({}, options);
  delete wire._receipt_for;
  delete wire._stat;
  target.unanswered.add(options);
  target.session.deliver_sm(wire, (resp) => {
    target.unanswered.delete(options);
    record({ command: 'deliver_sm_resp', session: target.number, status: resp.command_status,
      receipt_for: options._receipt_for || null });
  });
  record({ command: 'deliver_sm', kind: options._receipt_for ? 'receipt' : 'mo', session: target.number,
    message_id: options._receipt_for || null, stat: options._stat || null });
}

function flushKept() {
  const waiting = keptDelivers.splice(0, keptDelivers.length);
  for (const options of waiting) pushDeliver(options, -1);
}

const recentSubmits = new Map(); // session -> timestamps of the last second's submits
function overRate(number) {
  if (!limits.tps) return false;
  const now = Date.now();
  const times = (recentSubmits.get(number) || []).filter((t) => now - t < 1000);
  recentSubmits.set(number, times);
  if (times.length >= limits.tps) return true;
  times.push(now);
  return false;
}

function distinctKey(entry) {
  let ref = entry.sar_msg_ref_num;
  for (const udh of entry.udh) {
    if (udh.startsWith('0003')) ref = parseInt(udh.slice(4, 6), 16);
    if (udh.startsWith('0804')) ref = parseInt(udh.slice(4, 8), 16);
  }
  return entry.destination_addr + '|' + (ref === null || ref === undefined ? '-' : ref) + '|' + partNumber(entry);
}
const distinct = {};
const perSecond = {}; // accepted submits per wall-clock second

function onSubmit(info, pdu) {
  const sm = pdu.short_message || {};
  const payload = pdu.message_payload;
  const entry = {
    command: 'submit_sm',
    session: info.number,
    system_id: info.system_id,
    sequence_number: pdu.sequence_number,
    service_type: pdu.service_type,
    source_addr: pdu.source_addr,
    source_addr_ton: pdu.source_addr_ton,
    source_addr_npi: pdu.source_addr_npi,
    destination_addr: pdu.destination_addr,
    dest_addr_ton: pdu.dest_addr_ton,
    dest_addr_npi: pdu.dest_addr_npi,
    esm_class: pdu.esm_class,
    registered_delivery: pdu.registered_delivery,
    data_coding: pdu.data_coding,
    udh: hex(sm.udh),
    text: textOf(sm),
    payload_text: payload === undefined ? null : textOf(payload),
    sar_msg_ref_num: pdu.sar_msg_ref_num === undefined ? null : pdu.sar_msg_ref_num,
    sar_total_segments: pdu.sar_total_segments === undefined ? null : pdu.sar_total_segments,
    sar_segment_seqnum: pdu.sar_segment_seqnum === undefined ? null : pdu.sar_segment_seqnum,
  };
  if (entry.text === null || entry.text === '') entry.text = entry.payload_text;
  const rule = ruleFor(pdu.destination_addr);
  const ruleKey = JSON.stringify(rule);
  const seen = (ruleCounters[ruleKey] = (ruleCounters[ruleKey] || 0) + 1);
  let status = statusCode(rule.status);
  counters.submits += 1;
  if (status === 0 && rule.throttle_every && seen % rule.throttle_every === 0) status = ERRORS.ESME_RTHROTTLED;
  const part = String(partNumber(entry));
  if (status === 0 && rule.fail_parts && rule.fail_parts[part]) {
    const once = 'fail|' + pdu.destination_addr + '|' + part;
    if (!ruleCounters[once]) {
      ruleCounters[once] = 1;
      status = statusCode(rule.fail_parts[part]);
    }
  }
  if (status === 0 && overRate(info.number)) status = ERRORS.ESME_RTHROTTLED;
  if (status === ERRORS.ESME_RTHROTTLED) counters.throttled += 1;
  info.outstanding += 1;
  info.max_outstanding = Math.max(info.max_outstanding, info.outstanding);
  stats[info.number] = info.max_outstanding;
  let id = null;
  if (status === 0) {
    id = nextId++;
    entry.message_id = renderId(id, 'same');
    counters.accepted += 1;
    counters.first_at = counters.first_at || Date.now();
    counters.last_at = Date.now();
    const second = Math.floor(Date.now() / 1000);
    perSecond[second] = (perSecond[second] || 0) + 1;
    const key = distinctKey(entry);
    distinct[key] = (distinct[key] || 0) + 1;
  }
  entry.status = status;
  record(entry);
  info.pending.add(entry);
  if (rule.drop_at_outstanding && info.outstanding >= rule.drop_at_outstanding &&
      dropsDone < (rule.drop_times || 1)) {
    // A full window in flight and the connection goes: nothing outstanding is answered - or taken.
    dropsDone += 1;
    for (const pending of info.pending) {
      if (pending.status === 0) {
        counters.accepted -= 1;
        distinct[distinctKey(pending)] -= 1;
        pending.status = -1; // recorded as received, but not taken
      }
    }
    record({ command: 'drop', session: info.number, outstanding: info.outstanding });
    info.dropping = true;
    info.session.destroy();
    return;
  }
  const receiptRule = Object.assign({ receipt: 'DELIVRD', receipt_delay_ms: 20 }, rule);
  const wantsReceipt = id !== null && (pdu.registered_delivery & 0x01) && receiptRule.receipt;
  const submittedInfo = { session: info.session, number: info.number, submitted_at: new Date() };
  const respond = () => {
    info.outstanding -= 1;
    info.pending.delete(entry);
    if (info.dropping || !info.session.socket.writable) return;
    const options = status === 0 ? { message_id: entry.message_id } : { command_status: status };
    info.session.send(pdu.response(options));
    record({ command: 'submit_sm_resp', session: info.number, sequence_number: pdu.sequence_number,
      status: status, message_id: entry.message_id || null });
  };
  const receipt = () => { if (!info.dropping) sendReceipt(submittedInfo, entry, id, receiptRule); };
  let respDelay = rule.resp_delay_ms || 0;
  if (rule.slow_every && seen % rule.slow_every === 0) respDelay = rule.slow_ms || 5000;
  if (rule.slow_first && seen <= rule.slow_first) respDelay = rule.slow_ms || 5000;
  const early = receiptRule.receipt_before_resp ||
    (receiptRule.receipt_before_resp_every && counters.accepted % receiptRule.receipt_before_resp_every === 0);
  if (wantsReceipt && early) {
    setTimeout(receipt, 0);
    setTimeout(respond, Math.max(respDelay, receiptRule.receipt_delay_ms, 50));
    return;
  }
  setTimeout(() => {
    respond();
    if (wantsReceipt) setTimeout(receipt, receiptRule.receipt_delay_ms);
  }, respDelay);
}

function onBind(session, number, mode, pdu) {
  const refusing = Date.now() < refuseBindsUntil;
  const ok = pdu.system_id === SYSTEM_ID && pdu.password === PASSWORD && !refusing;
  record({ command: 'bind_' + mode, session: number, system_id: pdu.system_id, system_type: pdu.system_type,
    ok: ok });
  if (!ok) {
    let status = pdu.system_id === SYSTEM_ID ? ERRORS.ESME_RINVPASWD : ERRORS.ESME_RINVSYSID;
    if (refusing && pdu.system_id === SYSTEM_ID && pdu.password === PASSWORD) status = refuseBindStatus;
    session.send(pdu.response({ command_status: status }));
    setTimeout(() => session.close(), 20);
    return;
  }
  sessions.set(number, { session: session, number: number, system_id: pdu.system_id, mode: mode,
    outstanding: 0, max_outstanding: 0, unanswered: new Set(), pending: new Set() });
  session.send(pdu.response({ system_id: 'TESTSMSC' }));
  if (mode !== 'transmitter') setTimeout(flushKept, 10);
}

const server = smpp.createServer((session) => {
  const number = ++sessionCounter;
  session.on('error', () => {});
  session.on('close', () => {
    const info = sessions.get(number);
    sessions.delete(number);
    if (info) for (const options of info.unanswered) keptDelivers.push(options); // sent again later
    record({ command: 'close', session: number });
  });
  for (const mode of ['transceiver', 'transmitter', 'receiver']) {
    session.on('bind_' + mode, (pdu) => onBind(session, number, mode, pdu));
  }
  session.on('enquire_link', (pdu) => {
    record({ command: 'enquire_link', session: number });
    session.send(pdu.response());
  });
  session.on('unbind', (pdu) => {
    record({ command: 'unbind', session: number });
    session.send(pdu.response());
    setTimeout(() => session.close(), 10);
  });
  session.on('submit_sm', (pdu) => {
    const info = sessions.get(number);
    if (!info || info.mode === 'receiver') {
      session.send(pdu.response({ command_status: ERRORS.ESME_RINVBNDSTS }));
      return;
    }
    onSubmit(info, pdu);
  });
});

// -- MO --------------------------------------------------------------------------------------------
function receiverSession() {
  const candidates = [...sessions.values()].filter((s) => s.mode !== 'transmitter' && s.session.socket.writable);
  if (!candidates.length) return null;
  const pick = candidates[deliverCounter++ % candidates.length];
  return pick;
}
let deliverCounter = 0;

function chunk(text, parts) {
  const size = Math.ceil(text.length / parts);
  const out = [];
  for (let i = 0; i < parts; i++) out.push(text.slice(i * size, (i + 1) * size));
  return out;
}

function deliver(body) {
  const info = receiverSession();
  if (!info) return { error: 'no receiver session bound' };
  const parts = body.parts || 1;
  const dataCoding = body.data_coding || 0;
  const ref = body.ref === undefined ? 0x42 : body.ref;
  const chunks = chunk(body.text, parts);
  const pdus = chunks.map((text, i) => {
    const options = {
      source_addr: body.source,
      source_addr_ton: body.source_ton === undefined ? 1 : body.source_ton,
      source_addr_npi: 1,
      destination_addr: body.dest,
      dest_addr_ton: body.dest_ton === undefined ? 1 : body.dest_ton,
      dest_addr_npi: 1,
      esm_class: body.esm_class || 0,  // 0x04: a delivery receipt (its text given as `text`)
      data_coding: dataCoding,
    };
    if (parts === 1) {
      options.short_message = { message: text };
    } else if (body.udh === 'sar') {
      options.short_message = { message: text };
      options.sar_msg_ref_num = ref;
      options.sar_total_segments = parts;
      options.sar_segment_seqnum = i + 1;
    } else {
      const udh = body.udh === '16'
        ? Buffer.from([0x06, 0x08, 0x04, (ref >> 8) & 0xff, ref & 0xff, parts, i + 1])
        : Buffer.from([0x05, 0x00, 0x03, ref & 0xff, parts, i + 1]);
      options.short_message = { udh: udh, message: text };
      options.esm_class |= 0x40;
    }
    return options;
  });
  let order = body.order === 'reverse' ? pdus.slice().reverse() : pdus;
  if (body.only) order = order.filter((_, i) => body.only.includes(body.order === 'reverse' ? parts - i : i + 1));
  for (const options of order) pushDeliver(options, info.number);
  return { sent: order.length, session: info.number };
}

// -- control channel -------------------------------------------------------------------------------
function readJson(req) {
  return new Promise((resolve, reject) => {
    let data = '';
    req.on('data', (c) => { data += c; });
    req.on('end', () => {
      try { resolve(data ? JSON.parse(data) : {}); } catch (e) { reject(e); }
    });
  });
}

const control = http.createServer(async (req, res) => {
  const url = new URL(req.url, 'http://127.0.0.1');
  const reply = (code, body) => {
    res.writeHead(code, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  try {
    const body = req.method === 'POST' ? await readJson(req) : {};
    if (req.method === 'GET' && url.pathname === '/received') {
      const command = url.searchParams.get('command');
      return reply(200, command ? records.filter((r) => r.command === command) : records);
    }
    if (req.method === 'GET' && url.pathname === '/sessions') {
      return reply(200, [...sessions.values()].map((s) => ({ session: s.number, system_id: s.system_id,
        mode: s.mode, outstanding: s.outstanding })));
    }
    if (req.method === 'GET' && url.pathname === '/stats') {
      return reply(200, { max_outstanding: stats });
    }
    if (req.method === 'POST' && url.pathname === '/reset') {
      records.length = 0;
      rules = {};
      defaultRule = {};
      limits = {};
      refuseBindsUntil = 0;
      dropsDone = 0;
      keptDelivers.length = 0;
      counters.submits = counters.accepted = counters.throttled = 0;
      counters.first_at = counters.last_at = null;
      for (const key of Object.keys(ruleCounters)) delete ruleCounters[key];
      for (const key of Object.keys(distinct)) delete distinct[key];
      for (const key of Object.keys(perSecond)) delete perSecond[key];
      for (const key of Object.keys(stats)) delete stats[key];
      for (const s of sessions.values()) s.max_outstanding = s.outstanding;
      return reply(200, { ok: true });
    }
    if (req.method === 'POST' && url.pathname === '/rules') {
      if (body.default) defaultRule = body.default;
      if (body.dest) rules[body.dest] = body.rule || {};
      return reply(200, { ok: true });
    }
    if (req.method === 'POST' && url.pathname === '/deliver') {
      const result = deliver(body);
      return reply(result.error ? 409 : 200, result);
    }
    if (req.method === 'GET' && url.pathname === '/counts') {
      return reply(200, Object.assign({ distinct: distinct, kept: keptDelivers.length, per_second: perSecond },
        counters));
    }
    if (req.method === 'POST' && url.pathname === '/limits') {
      limits = body || {};
      return reply(200, { ok: true });
    }
    if (req.method === 'POST' && url.pathname === '/refuse_binds') {
      refuseBindsUntil = Date.now() + 1000 * (body.seconds || 0);
      refuseBindStatus = statusCode(body.status || 'ESME_RBINDFAIL');
      return reply(200, { ok: true });
    }
    if (req.method === 'POST' && url.pathname === '/outage') {
      outageUntil = Date.now() + 1000 * (body.seconds || 0);
      server.close();
      for (const s of sessions.values()) s.session.destroy();
      setTimeout(() => { server.listen(smppPort, '127.0.0.1'); }, 1000 * (body.seconds || 0));
      return reply(200, { ok: true });
    }
    if (req.method === 'POST' && url.pathname === '/drop') {
      let n = 0;
      for (const s of sessions.values()) {
        if (body.session === undefined || body.session === s.number) { s.session.destroy(); n += 1; }
      }
      return reply(200, { dropped: n });
    }
    return reply(404, { error: 'no such endpoint' });
  } catch (e) {
    return reply(500, { error: String(e && e.stack || e) });
  }
});

server.on('error', (e) => { console.error('smsc: ' + e.message); process.exit(2); });
control.on('error', (e) => { console.error('smsc control: ' + e.message); process.exit(2); });

let smppPort = 0;
server.listen(Number(arg('port', '0')), '127.0.0.1', () => {
  smppPort = server.address().port;
  control.listen(Number(arg('control-port', '0')), '127.0.0.1', () => {
    process.stdout.write(JSON.stringify({ smpp_port: server.address().port,
      control_port: control.address().port, pid: process.pid }) + '\n');
  });
});

// Leave when the test process goes away (stdin closes).
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
