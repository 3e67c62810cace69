// Benchmark peer, second half of nginx-nchan.conf: follows nchan's channel
// events (subscriber_enqueue / subscriber_dequeue) and, per channel,
// coalesced as DESIGN §4 says, reads the subscriber count from nchan's
// channel info and publishes it back to the channel.
//
// nchan 1.3.6 with more than one worker needs two workarounds, see
// update() and sweep().
//
// Usage: node bench/peers/nchan-counter.mjs --port C
//        --nginx http://127.0.0.1:P [--interval-ms 250] [--sweep-ms 1000]
// Start nginx first: "listening C" is printed once the events stream is
// open (from then on joins are seen); GET /status on port C shows what the
// counter knows.  SIGTERM/SIGINT exit.  node's http module only.

import http from 'node:http';
import { performance } from 'node:perf_hooks';

const PUB_PATH = '/herenow/_pub';	// nchan_publisher location
const EVENTS_PATH = '/herenow/_events';	// meta channel subscriber
const MAX_CHANNEL = 1024;		// nchan's default max channel id length
const MAX_LINE = 4096;			// one event line
const RETRY_MS = 100;			// events stream reconnect
const FORGET_MS = 10000;		// an empty, quiet channel is dropped

function usage() {
	process.stderr.write('usage: nchan-counter.mjs --port C ' +
	    '--nginx http://127.0.0.1:P [--interval-ms MS] [--sweep-ms MS]\n');
	process.exit(2);
}

const opt = { port: 0, nginx: null, interval: 250, sweep: 1000 };
{
	const a = process.argv.slice(2);
	for (let i = 0; i < a.length; i += 2) {
		const v = a[i + 1];
		if (v === undefined)
			usage();
		if (a[i] === '--port')
			opt.port = Number(v);
		else if (a[i] === '--nginx')
			opt.nginx = v;
		else if (a[i] === '--interval-ms')
			opt.interval = Number(v);
		else if (a[i] === '--sweep-ms')
			opt.sweep = Number(v);
		else
			usage();
	}
	if (!Number.isInteger(opt.port) || opt.port < 1 || opt.port > 65535 ||
	    !opt.nginx || !(opt.interval >= 0) || !(opt.sweep >= 0))
		usage();
}

let nginx;
try {
	nginx = new URL(opt.nginx);
} catch {
	usage();
}
if (nginx.protocol !== 'http:')
	usage();

// Few connections, reused: a burst of joins costs one GET+POST pair per
// channel and interval.
const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });

/*
 * Per channel: when the last update started, whether one is scheduled or
 * under way, the true count as of our last publish, a correction to
 * publish, when the last event came, and our tally of enqueues minus
 * dequeues.  The tally is only shown by /status: the count published is
 * always nchan's, and events can be lost (see sweep()).
 */
const channels = new Map();
let site = 0;		// sum of the counts last read, over all channels
let fixes = 0;		// publishes corrected (see update()), for /status
let lost = 0;		// sweeps that found a change no event announced

function chan(id) {
	let c = channels.get(id);

	if (c === undefined) {
		c = { id, page: pageOf(id), last: -Infinity, timer: null,
		    busy: false, again: false, checking: false, readers: 0,
		    fix: null, fixAt: 0, seen: 0, tally: 0 };
		channels.set(id, c);
	}
	return c;
}

// The channel id is $arg_page as the client sent it; the JSON carries the
// page itself.
function pageOf(id) {
	try {
		return decodeURIComponent(id.replace(/\+/g, ' '));
	} catch {
		return id;
	}
}

/*
 * DESIGN §4: at most one update per interval, measured from the start of
 * the previous one; a change after a quiet interval goes out at once, later
 * ones wait for the end of the interval and become one update, which reads
 * the count then and so ends on the latest value.
 */
function changed(c) {
	if (c.busy) {
		// The read under way may have missed this change.
		c.again = true;
		return;
	}
	if (c.timer !== null)
		return;
	const wait = c.last + opt.interval - performance.now();
	if (wait <= 0)
		update(c);
	else
		c.timer = setTimeout(() => { c.timer = null; update(c); },
		    wait);
}

/*
 * NOTES: nchan 1.3.6's channel info is wrong with more than one worker.
 * Asked of the worker that owns the channel, a GET answers that worker's
 * own subscribers, or the total as of the last publish (memstore.c,
 * nchan_store_find_channel reads ch->channel, which the spooler add and
 * dequeue handlers set to the local count); asked of another worker, it
 * answers the true total from shared memory.  A publish's response always
 * carries the true total at that moment.  So every publish is checked
 * against its response, and a wrong one is corrected at the next interval
 * with the count the response gave, unless events came meanwhile (then we
 * read again).  With one worker the GET is exact, and a correction only
 * follows a change between our GET and our POST.  Always publish, even 0
 * to an empty channel: a joiner sees only what is published after it
 * subscribed (first_message newest), so a join must be answered even if a
 * leave cancelled it out.
 */
async function update(c) {
	c.last = performance.now();
	c.busy = true;
	try {
		let n;

		if (c.fix !== null && c.seen < c.fixAt)
			n = c.fix;
		else
			n = await readCount(c.id);
		c.fix = null;
		site += n - c.readers;
		c.readers = n;
		const at = performance.now();
		const s = await publish(c, n);
		if (s !== n) {
			site += s - n;
			c.readers = s;
			c.fix = s;
			c.fixAt = at;
			c.again = true;
			fixes++;
		}
	} catch (e) {
		process.stderr.write(`nchan-counter: ${c.id}: ${e.message}\n`);
	} finally {
		c.busy = false;
	}
	if (c.again) {
		c.again = false;
		changed(c);
	}
}

/*
 * With more than one worker, nchan also loses channel events under a burst
 * (measured: up to a tenth of 1,000 enqueues at once).  The count we
 * publish is read from nchan, so a lost event matters only when no later
 * event on that channel follows.  Hence a cheap sweep: read each quiet
 * channel's count and update it if it moved.  Only quiet ones: after the
 * last (checked) publish the owning worker's answer is the true total
 * again, while during activity it may be its local count (see update()).
 * Channels never seen (their only event lost) stay unknown until their
 * next event.
 */
function sweep() {
	const now = performance.now();

	for (const c of channels.values()) {
		if (c.busy || c.timer !== null || c.checking || c.again ||
		    now - c.seen < opt.interval || now - c.last < opt.interval)
			continue;
		c.checking = true;
		readCount(c.id).then((n) => {
			if (n !== c.readers) {
				lost++;
				changed(c);
			} else if (n === 0 && now - c.seen > FORGET_MS &&
			    !c.busy && c.timer === null)
				channels.delete(c.id);
		}, (e) => {
			process.stderr.write(`nchan-counter: ${c.id}: ` +
			    `${e.message}\n`);
		}).finally(() => { c.checking = false; });
	}
}

function request(method, path, headers, body) {
	return new Promise((resolve, reject) => {
		const req = http.request({ agent, host: nginx.hostname,
		    port: nginx.port || 80, method, path, headers }, (res) => {
			const parts = [];

			res.on('data', (d) => parts.push(d));
			res.on('end', () => resolve({ status: res.statusCode,
			    body: Buffer.concat(parts).toString() }));
			res.on('error', reject);
		});
		req.on('error', reject);
		req.end(body);
	});
}

// nchan answers 404 for a channel that does not exist (no subscribers and
// no messages): that is a count of 0.
async function readCount(id) {
	const r = await request('GET', `${PUB_PATH}?page=${id}`,
	    { Accept: 'application/json' });

	if (r.status === 404)
		return 0;
	if (r.status !== 200)
		throw new Error(`channel info: status ${r.status}`);
	return subscribers(r.body);
}

// nchan's channel info, as JSON (Accept: application/json).
function subscribers(body) {
	const n = JSON.parse(body).subscribers;

	if (!Number.isInteger(n) || n < 0)
		throw new Error('channel info: no subscriber count');
	return n;
}

// Returns the channel's subscriber count when the message was published.
async function publish(c, n) {
	const body = JSON.stringify({ type: 'count', page: c.page,
	    readers: n, tabs: n, site });
	const r = await request('POST', `${PUB_PATH}?page=${c.id}`,
	    { 'Content-Type': 'application/json',
	    Accept: 'application/json',
	    'Content-Length': Buffer.byteLength(body) }, body);

	// 201: delivered to subscribers, 202: queued, nobody there.
	if (r.status !== 201 && r.status !== 202)
		throw new Error(`publish: status ${r.status}`);
	return subscribers(r.body);
}

/*
 * One event: "subscriber_enqueue ID" or "subscriber_dequeue ID" (the
 * nchan_channel_event_string of the subscriber locations).  The id came
 * from a request line nginx accepted, so it can go back into one; still,
 * bound it.
 */
function event(data) {
	const sp = data.indexOf(' ');
	let d;

	if (sp < 0)
		return;
	const what = data.slice(0, sp);
	const id = data.slice(sp + 1);
	if (what === 'subscriber_enqueue')
		d = 1;
	else if (what === 'subscriber_dequeue')
		d = -1;
	else
		return;
	if (id.length === 0 || id.length > MAX_CHANNEL || /[\s#]/.test(id))
		return;
	const c = chan(id);
	c.tally += d;
	c.seen = performance.now();
	changed(c);
}

/*
 * The events stream is an EventSource response (not chunked, ends when
 * nginx closes it); we only need its "data: " lines.  When it ends, every
 * channel we know is looked at again: events may have been missed meanwhile
 * (nginx replays its last events on reconnect too, see the conf).
 */
let ready = false;

function follow() {
	const req = http.request({ agent: false, host: nginx.hostname,
	    port: nginx.port || 80, path: EVENTS_PATH,
	    headers: { Accept: 'text/event-stream' } }, (res) => {
		let buf = '';

		if (res.statusCode !== 200) {
			res.resume();
			retry(`events: status ${res.statusCode}`);
			return;
		}
		if (!ready) {
			ready = true;
			process.stdout.write(`listening ${opt.port}\n`);
		}
		res.setEncoding('utf8');
		res.on('data', (s) => {
			let i;

			buf += s;
			while ((i = buf.indexOf('\n')) >= 0) {
				const line = buf.slice(0, i);

				buf = buf.slice(i + 1);
				if (line.startsWith('data: '))
					event(line.slice(6));
			}
			if (buf.length > MAX_LINE)
				buf = '';
		});
		res.on('end', () => retry('events: stream ended'));
		res.on('error', (e) => retry(`events: ${e.message}`));
	});
	req.on('error', (e) => retry(ready ? `events: ${e.message}` : null));
	req.end();
}

let retrying = false;

function retry(why) {
	if (retrying)
		return;
	retrying = true;
	if (why)
		process.stderr.write(`nchan-counter: ${why}\n`);
	for (const c of channels.values())
		changed(c);
	setTimeout(() => { retrying = false; follow(); }, RETRY_MS);
}

const server = http.createServer((req, res) => {
	if (req.method !== 'GET' || req.url !== '/status') {
		res.writeHead(404).end();
		return;
	}
	const out = { site, fixes, lost, channels: [] };
	for (const c of channels.values())
		out.channels.push({ page: c.page, readers: c.readers,
		    tally: c.tally });
	res.writeHead(200, { 'Content-Type': 'application/json' });
	res.end(JSON.stringify(out) + '\n');
});

server.listen(opt.port, '127.0.0.1', follow);
if (opt.sweep > 0)
	setInterval(sweep, opt.sweep);

function stop() {
	server.close();
	agent.destroy();
	process.exit(0);
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
