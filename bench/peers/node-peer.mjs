// Benchmark peer: what a user would write instead of herenow. One Node
// process, node's http module for SSE and the npm `ws` package for
// WebSocket on the same port, live reader counts held in memory.
//
// Usage: node bench/peers/node-peer.mjs --port P [--host 127.0.0.1]
//        [--interval-ms 250]
// Prints "listening P" on stdout when ready; SIGTERM/SIGINT exit cleanly.

import http from 'node:http';
import { createRequire } from 'node:module';

// ws lives in the integration tests' node_modules; borrowing it there
// avoids a second package.json just for the benchmark.
const require = createRequire(new URL('../../tests/integration/package.json',
    import.meta.url));
const { WebSocketServer } = require('ws');

const MAX_PAGE = 256;
const MAX_VISITOR = 64;
const MAX_QUEUED = 64 * 1024;	// a reader this far behind is dropped
const SSE_PING_MS = 15000;
const WS_PING_MS = 25000;
const HELLO_MS = 10000;		// an unjoined socket may not linger
const SITE_INTERVAL_MS = 5000;

function usage() {
	process.stderr.write('usage: node-peer.mjs --port P [--host H] ' +
	    '[--interval-ms MS]\n');
	process.exit(2);
}

const opt = { port: 0, host: '127.0.0.1', interval: 250 };
{
	const a = process.argv.slice(2);
	for (let i = 0; i < a.length; i++) {
		const v = a[i + 1];
		if (v === undefined)
			usage();
		if (a[i] === '--port')
			opt.port = Number(v);
		else if (a[i] === '--host')
			opt.host = v;
		else if (a[i] === '--interval-ms')
			opt.interval = Number(v);
		else
			usage();
		i++;
	}
	if (!Number.isInteger(opt.port) || opt.port <= 0 || opt.port > 65535 ||
	    !(opt.interval >= 0))
		usage();
}

/*
 * State. pages: page -> { visitors: Map visitor -> open streams, tabs,
 * sse: Set of responses, ws: Set of sockets, coalescing fields }.
 * site: visitor -> open streams over all pages, so site = site.size.
 */
const pages = new Map();
const site = new Map();

function validPage(p) {
	return typeof p === 'string' && p.startsWith('/') &&
	    Buffer.byteLength(p) <= MAX_PAGE;
}

function validVisitor(v) {
	return typeof v === 'string' && v.length > 0 &&
	    Buffer.byteLength(v) <= MAX_VISITOR;
}

function countJson(page, p) {
	return JSON.stringify({ type: 'count', page, readers: p.visitors.size,
	    tabs: p.tabs, site: site.size });
}

function sseEvent(json) {
	return Buffer.from(`event: count\ndata: ${json}\n\n`);
}

function wsLine(json) {
	return Buffer.from(json + '\n');
}

function sendSse(res, buf) {
	res.write(buf);
	if (res.writableLength > MAX_QUEUED)
		res.destroy();
}

function sendWs(ws, buf) {
	// A Buffer would go out as a binary frame unless told otherwise.
	ws.send(buf, { binary: false });
	if (ws.bufferedAmount > MAX_QUEUED)
		ws.terminate();
}

/* One encoding per transport, the same bytes to every reader. */
function broadcast(page, p) {
	p.timer = null;
	p.lastStart = Date.now();
	const json = countJson(page, p);
	if (json === p.lastJson)
		return;
	p.lastJson = json;
	p.lastSite = site.size;
	if (p.sse.size > 0) {
		const buf = sseEvent(json);
		for (const res of p.sse)
			sendSse(res, buf);
	}
	if (p.ws.size > 0) {
		const buf = wsLine(json);
		for (const ws of p.ws)
			sendWs(ws, buf);
	}
}

/*
 * Coalescing (DESIGN §4): at most one update per interval, measured from
 * the start of the previous one; after a quiet interval a change goes out
 * at once, later ones wait for the end of the interval, and that update
 * reads the state then, so it carries the latest value.
 */
function changed(page, p) {
	if (p.timer !== null)
		return;
	const wait = p.lastStart + opt.interval - Date.now();
	if (wait <= 0)
		broadcast(page, p);
	else
		p.timer = setTimeout(broadcast, wait, page, p);
}

/* A change of site alone reaches the other pages at most every 5 s. */
let siteTimer = null;
let siteLast = -Infinity;

function siteFlush() {
	siteTimer = null;
	siteLast = Date.now();
	for (const [page, p] of pages)
		if (p.lastSite !== site.size)
			changed(page, p);
}

function siteChanged() {
	if (siteTimer !== null || pages.size < 2)
		return;
	const wait = siteLast + SITE_INTERVAL_MS - Date.now();
	if (wait <= 0)
		siteFlush();
	else
		siteTimer = setTimeout(siteFlush, wait);
}

/* kind is 'sse' or 'ws'; conn is the response or the socket. */
function join(page, visitor, kind, conn) {
	let p = pages.get(page);
	if (p === undefined) {
		p = { visitors: new Map(), tabs: 0, sse: new Set(), ws: new Set(),
		    timer: null, lastStart: -Infinity, lastJson: null,
		    lastSite: -1 };
		pages.set(page, p);
	}
	p.visitors.set(visitor, (p.visitors.get(visitor) ?? 0) + 1);
	p.tabs++;
	const siteBefore = site.size;
	site.set(visitor, (site.get(visitor) ?? 0) + 1);
	p[kind].add(conn);

	// The newcomer hears its own count now; everyone else through the
	// coalesced broadcast.
	const json = countJson(page, p);
	if (kind === 'sse')
		sendSse(conn, sseEvent(json));
	else
		sendWs(conn, wsLine(json));
	// The newcomer has seen a count the others have not: the next
	// broadcast must go out even if it equals the last one they got.
	p.lastJson = null;
	changed(page, p);
	if (site.size !== siteBefore)
		siteChanged();

	let left = false;
	return () => {
		if (left)
			return;
		left = true;
		leave(page, p, visitor, kind, conn);
	};
}

function leave(page, p, visitor, kind, conn) {
	p[kind].delete(conn);
	p.tabs--;
	const n = p.visitors.get(visitor) - 1;
	if (n === 0)
		p.visitors.delete(visitor);
	else
		p.visitors.set(visitor, n);
	const s = site.get(visitor) - 1;
	if (s === 0)
		site.delete(visitor);
	else
		site.set(visitor, s);

	if (p.tabs === 0) {
		// Nobody is left to tell; forget the page.
		if (p.timer !== null)
			clearTimeout(p.timer);
		pages.delete(page);
	} else
		changed(page, p);
	if (s === 0)
		siteChanged();
}

function errorJson(code, message) {
	return JSON.stringify({ type: 'error', code, message }) + '\n';
}

function reply(res, status, code, message) {
	const body = errorJson(code, message);
	res.writeHead(status, { 'Content-Type': 'application/json',
	    'Content-Length': Buffer.byteLength(body) });
	res.end(body);
}

/* SSE */

const sseAll = new Set();

function serveSse(req, res, q) {
	const page = q.get('page');
	const visitor = q.get('visitor');
	if (!validPage(page))
		return reply(res, 400, 'bad_page',
		    'page must start with / and be at most 256 bytes');
	if (!validVisitor(visitor))
		return reply(res, 400, 'bad_visitor',
		    'visitor must be 1 to 64 bytes');

	req.socket.setTimeout(0);
	// Connection: close, so ending the stream also ends the socket.
	res.writeHead(200, { 'Content-Type': 'text/event-stream',
	    'Cache-Control': 'no-cache', 'Connection': 'close' });
	res.write('retry: 2000\n\n');
	sseAll.add(res);
	const done = join(page, visitor, 'sse', res);
	res.on('close', () => {
		sseAll.delete(res);
		done();
	});
	res.on('error', () => {});
}

const PING = Buffer.from(': ping\n\n');
const ssePinger = setInterval(() => {
	for (const res of sseAll)
		sendSse(res, PING);
}, SSE_PING_MS);

/* WebSocket */

const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false,
    maxPayload: 4096 });

function wsRefuse(ws, code, message) {
	sendWs(ws, Buffer.from(errorJson(code, message)));
	ws.close(1008, code);
}

function wsJoin(ws, page, visitor) {
	if (!validPage(page))
		return wsRefuse(ws, 'bad_page',
		    'page must start with / and be at most 256 bytes');
	if (!validVisitor(visitor))
		return wsRefuse(ws, 'bad_visitor',
		    'visitor must be 1 to 64 bytes');
	ws.done = join(page, visitor, 'ws', ws);
}

wss.on('connection', (ws, req, q) => {
	ws.alive = true;
	ws.done = null;
	// Joined by the query or by the first hello, whichever comes first;
	// once joined, further hellos are ignored.
	const hello = setTimeout(() => {
		if (ws.done === null)
			wsRefuse(ws, 'no_hello', 'hello expected');
	}, HELLO_MS);
	ws.on('pong', () => { ws.alive = true; });
	ws.on('error', () => {});
	ws.on('close', () => {
		clearTimeout(hello);
		if (ws.done !== null)
			ws.done();
	});
	ws.on('message', (data, isBinary) => {
		if (isBinary) {
			ws.close(1003, 'binary');
			return;
		}
		if (ws.done !== null || ws.readyState !== ws.OPEN)
			return;
		let m;
		try {
			m = JSON.parse(data.toString('utf8'));
		} catch {
			return wsRefuse(ws, 'bad_json', 'not JSON');
		}
		if (m === null || m.type !== 'hello')
			return wsRefuse(ws, 'bad_message', 'hello expected');
		clearTimeout(hello);
		wsJoin(ws, m.page, m.visitor);
	});
	if (q.has('page') || q.has('visitor')) {
		clearTimeout(hello);
		wsJoin(ws, q.get('page'), q.get('visitor'));
	}
});

const wsPinger = setInterval(() => {
	// A socket that did not answer the last ping is gone.
	for (const ws of wss.clients) {
		if (!ws.alive) {
			ws.terminate();
			continue;
		}
		ws.alive = false;
		ws.ping();
	}
}, WS_PING_MS);

/* HTTP */

const server = http.createServer((req, res) => {
	const url = new URL(req.url, 'http://peer');
	if (url.pathname === '/herenow/sse') {
		if (req.method !== 'GET')
			return reply(res, 405, 'method', 'GET only');
		return serveSse(req, res, url.searchParams);
	}
	reply(res, 404, 'not_found', 'no such path');
});

server.on('upgrade', (req, socket, head) => {
	const url = new URL(req.url, 'http://peer');
	if (url.pathname !== '/herenow/ws') {
		socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n' +
		    'Connection: close\r\n\r\n');
		return;
	}
	socket.on('error', () => {});
	wss.handleUpgrade(req, socket, head, (ws) => {
		wss.emit('connection', ws, req, url.searchParams);
	});
});

server.on('clientError', (err, socket) => {
	if (socket.writable)
		socket.end('HTTP/1.1 400 Bad Request\r\n\r\n');
});

server.listen(opt.port, opt.host, () => {
	process.stdout.write(`listening ${server.address().port}\n`);
});

/*
 * Stop accepting, close every stream normally, exit once the last socket
 * is gone (upgraded ones still count for server.close), or after 1.5 s.
 */
function shutdown() {
	clearInterval(ssePinger);
	clearInterval(wsPinger);
	server.close(() => process.exit(0));
	for (const ws of wss.clients)
		ws.close(1001, 'shutting down');
	for (const res of sseAll)
		res.end();
	server.closeIdleConnections();
	setTimeout(() => process.exit(0), 1500).unref();
}

process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
