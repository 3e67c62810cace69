// Stand-in for lighttpd >= 1.4.74's mod_fastcgi with "upgrade" => "enable"
// (DESIGN §3), which Debian's 1.4.69 lacks: an HTTP server on 127.0.0.1
// that passes each request to a herenow FastCGI socket the way that
// lighttpd does, so that a real WebSocket client can reach /herenow/ws.
//
// What it does, as lighttpd 1.4.74 does (src/mod_fastcgi.c, gw_backend.c,
// http-header-glue.c there):
// - FCGI_BEGIN_REQUEST (responder, keep_conn 0), FCGI_PARAMS with the CGI
//   variables lighttpd sends (the same names and order as 1.4.69 sends to
//   a fastcgi.server "/herenow/" host with "check-local" => "disable").
// - An upgrade request gets no FCGI_STDIN at all until the answer: the
//   input stays open in case the program switches protocols.  If the
//   answer is `Status: 101` with an `Upgrade` header, the client gets
//   "HTTP/1.1 101 Switching Protocols" with the program's headers (its own
//   Sec-WebSocket-Accept, which the client checks), then the bytes flow
//   raw both ways: FCGI_STDOUT content to the client, the client's bytes
//   into FCGI_STDIN records whose boundaries fall anywhere (lighttpd's
//   follow its reads, not frames; here they are random, 1 to maxRecord
//   bytes, and the record stream itself is written in random slices so
//   that the program also reads partial record headers).  FCGI_STDIN is
//   never ended while the client is there.
// - Any other answer ends FCGI_STDIN and goes to the client as a normal
//   HTTP response; an ordinary request (SSE, count, ...) is streamed the
//   same way, its body passed on as it comes.
// - A client who leaves shows up as EOF on the FastCGI socket (a half
//   close, as "tcp-fin-propagate" => "enable" does); when the program sends
//   FCGI_END_REQUEST or closes, the client's connection is closed.
//
// Run by hand: node fcgi-upgrade-proxy.mjs --port 8081 --fcgi unix:/path

import http from 'node:http';
import net from 'node:net';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';

const FCGI_VERSION_1 = 1;
export const FCGI = {
	BEGIN_REQUEST: 1, ABORT_REQUEST: 2, END_REQUEST: 3, PARAMS: 4,
	STDIN: 5, STDOUT: 6, STDERR: 7,
};
const FCGI_RESPONDER = 1;
const REQUEST_ID = 1;		// lighttpd never multiplexes: always 1
const MAX_CONTENT = 65535;

// One record, padded to a multiple of 8 as libfcgi does.
export function fcgiRecord(type, content = Buffer.alloc(0), id = REQUEST_ID) {
	const pad = (8 - (content.length % 8)) % 8;
	const head = Buffer.alloc(8);
	head[0] = FCGI_VERSION_1;
	head[1] = type;
	head.writeUInt16BE(id, 2);
	head.writeUInt16BE(content.length, 4);
	head[6] = pad;
	return Buffer.concat([head, content, Buffer.alloc(pad)]);
}

function nvLength(n) {
	if (n < 128)
		return Buffer.from([n]);
	const b = Buffer.alloc(4);
	b.writeUInt32BE((n | 0x80000000) >>> 0);
	return b;
}

// FCGI_PARAMS records for a list of [name, value], then the empty one.
export function fcgiParams(pairs) {
	const parts = [];
	for (const [k, v] of pairs) {
		const kb = Buffer.from(k), vb = Buffer.from(String(v));
		parts.push(nvLength(kb.length), nvLength(vb.length), kb, vb);
	}
	const all = Buffer.concat(parts);
	const out = [];
	for (let off = 0; off < all.length; off += MAX_CONTENT)
		out.push(fcgiRecord(FCGI.PARAMS, all.subarray(off, off + MAX_CONTENT)));
	out.push(fcgiRecord(FCGI.PARAMS));
	return Buffer.concat(out);
}

// Splits a byte stream into records as they complete.
export class FcgiRecordReader {
	constructor() {
		this.buf = Buffer.alloc(0);
	}

	push(chunk) {
		this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
		const out = [];
		while (this.buf.length >= 8) {
			const len = this.buf.readUInt16BE(4), pad = this.buf[6];
			if (this.buf.length < 8 + len + pad)
				break;
			out.push({ version: this.buf[0], type: this.buf[1],
			    id: this.buf.readUInt16BE(2),
			    content: Buffer.from(this.buf.subarray(8, 8 + len)) });
			this.buf = this.buf.subarray(8 + len + pad);
		}
		return out;
	}
}

// A small seeded generator (xorshift32), so that a failing run's splits
// can be repeated: the seed is in the proxy's log.
function rng(seed) {
	let x = (seed >>> 0) || 0x9e3779b9;
	return () => {
		x ^= x << 13; x >>>= 0;
		x ^= x >>> 17;
		x ^= x << 5; x >>>= 0;
		return x / 0x100000000;
	};
}

// The CGI variables lighttpd 1.4.69 sends for GET /herenow/ws?... to a
// "/herenow/" host with "check-local" => "disable" (captured from a real
// one), in its order: CONTENT_LENGTH first, then the request, the server,
// the client, and every header as HTTP_*.
function cgiParams(req, sock, docroot, bodyLength) {
	const url = req.url;
	const q = url.indexOf('?');
	const path = q < 0 ? url : url.slice(0, q);
	const query = q < 0 ? '' : url.slice(q + 1);
	const p = [
		['CONTENT_LENGTH', bodyLength],
		['QUERY_STRING', query],
		['REQUEST_URI', url],
		['REDIRECT_STATUS', 200],
		['SCRIPT_NAME', path],
		['SCRIPT_FILENAME', docroot + path],
		['DOCUMENT_ROOT', docroot],
		['REQUEST_METHOD', req.method],
		['SERVER_PROTOCOL', `HTTP/${req.httpVersion}`],
		['SERVER_SOFTWARE', 'lighttpd/1.4.74 (herenow test stand-in)'],
		['GATEWAY_INTERFACE', 'CGI/1.1'],
		['REQUEST_SCHEME', 'http'],
		['SERVER_PORT', sock.localPort],
		['SERVER_ADDR', sock.localAddress],
		['SERVER_NAME', sock.localAddress],
		['REMOTE_ADDR', sock.remoteAddress],
		['REMOTE_PORT', sock.remotePort],
	];
	if (req.headers['content-type'] !== undefined)
		p.push(['CONTENT_TYPE', req.headers['content-type']]);
	for (let i = 0; i < req.rawHeaders.length; i += 2) {
		const name = req.rawHeaders[i];
		if (/^content-(length|type)$/i.test(name))
			continue;
		p.push(['HTTP_' + name.toUpperCase().replace(/-/g, '_'),
		    req.rawHeaders[i + 1]]);
	}
	return p;
}

// Parses the CGI response head: { status, reason, headers: [[k, v]...],
// rest } once the blank line is in, else null.
function parseCgiHead(buf) {
	let end = buf.indexOf('\r\n\r\n');
	let skip = 4;
	const lf = buf.indexOf('\n\n');
	if (lf >= 0 && (end < 0 || lf < end)) {
		end = lf;
		skip = 2;
	}
	if (end < 0)
		return null;
	const lines = buf.subarray(0, end).toString('latin1').split(/\r?\n/);
	let status = 200, reason = '';
	const headers = [];
	for (const line of lines) {
		const c = line.indexOf(':');
		if (c <= 0)
			throw new Error(`bad CGI header line ${JSON.stringify(line)}`);
		const k = line.slice(0, c).trim(), v = line.slice(c + 1).trim();
		if (k.toLowerCase() === 'status') {
			const m = /^(\d{3})\s*(.*)$/.exec(v);
			if (!m)
				throw new Error(`bad Status: ${v}`);
			status = Number(m[1]);
			reason = m[2];
		} else {
			headers.push([k, v]);
		}
	}
	return { status, reason: reason || http.STATUS_CODES[status] || '',
	    headers, rest: buf.subarray(end + skip) };
}

// Writes to the FastCGI socket with write(2) on its descriptor, as lighttpd
// does: when the program has already answered and closed (a refused frame
// while the rest of it is still coming), node's own write would fail with
// EPIPE and destroy the socket together with the answer still waiting to
// be read, where lighttpd reads that answer first (gw_write_error()).
// Returns the bytes written, 0 when the socket is full, -1 when the
// program no longer reads.
function writeFd(sock, buf) {
	const fd = sock._handle?.fd;
	if (typeof fd !== 'number' || fd < 0) {
		if (sock.destroyed || sock.writableEnded)
			return -1;
		sock.write(buf);
		return buf.length;
	}
	try {
		return fs.writeSync(fd, buf);
	} catch (err) {
		if (err.code === 'EAGAIN' || err.code === 'EWOULDBLOCK')
			return 0;
		if (['EPIPE', 'ECONNRESET', 'ENOTCONN', 'EBADF'].includes(err.code))
			return -1;
		throw err;
	}
}

const hasToken = (v, tok) => v !== undefined && String(v).toLowerCase()
    .split(',').map((s) => s.trim()).includes(tok);

export class FcgiUpgradeProxy {
	// backend: a unix socket path, or { host, port }.
	// maxRecord: the largest FCGI_STDIN record cut from the client's
	// bytes once upgraded (each is 1..maxRecord bytes, at random).
	constructor({ backend, maxRecord = 13, seed = Date.now() >>> 0,
	    docroot = '/nonexistent', logFile = null } = {}) {
		this.backend = backend;
		this.maxRecord = maxRecord;
		this.seed = seed;
		this.random = rng(seed);
		this.docroot = docroot;
		this.logFile = logFile;
		this.conns = new Set();
		this.stats = { requests: 0, upgrades: 0, refused: 0,
		    stdinRecords: 0, stdinBytes: 0, clientEofs: 0 };
		this.server = http.createServer((req, res) =>
		    this.#request(req, res));
		// Node answers "Expect: 100-continue" and the like itself; an
		// upgrade request comes here with the socket.
		this.server.on('upgrade', (req, sock, head) =>
		    this.#upgrade(req, sock, head));
		this.server.on('clientError', (err, sock) => {
			this.log(`client error: ${err.message}`);
			sock.destroy();
		});
		this.log(`proxy to ${JSON.stringify(backend)}, record sizes ` +
		    `1..${maxRecord}, seed ${seed}`);
	}

	log(msg) {
		if (this.logFile)
			fs.appendFileSync(this.logFile,
			    `${new Date().toISOString()} ${msg}\n`);
	}

	listen(port = 0, host = '127.0.0.1') {
		return new Promise((resolve, reject) => {
			this.server.once('error', reject);
			this.server.listen(port, host, () => {
				this.port = this.server.address().port;
				resolve(this.port);
			});
		});
	}

	// Stops listening and cuts every connection it holds.
	close() {
		for (const c of this.conns)
			c.destroy();
		this.conns.clear();
		return new Promise((resolve) => this.server.close(() => resolve()));
	}

	#connect() {
		const fcgi = typeof this.backend === 'string'
		    ? net.createConnection({ path: this.backend, allowHalfOpen: true })
		    : net.createConnection({ ...this.backend, allowHalfOpen: true });
		this.conns.add(fcgi);
		fcgi.on('close', () => this.conns.delete(fcgi));
		return fcgi;
	}

	#begin(fcgi, req, sock, bodyLength) {
		const begin = Buffer.alloc(8);
		begin.writeUInt16BE(FCGI_RESPONDER, 0);
		begin[2] = 0;		// flags: keep_conn off, as lighttpd
		fcgi.write(Buffer.concat([fcgiRecord(FCGI.BEGIN_REQUEST, begin),
		    fcgiParams(cgiParams(req, sock, this.docroot, bodyLength))]));
	}

	// An ordinary request: the body (bounded) as FCGI_STDIN and its end,
	// then the response streamed back as it comes.
	#request(req, res) {
		this.stats.requests++;
		const chunks = [];
		let size = 0;
		req.on('data', (d) => {
			size += d.length;
			if (size <= 1 << 20)
				chunks.push(d);
		});
		req.on('end', () => {
			const body = Buffer.concat(chunks);
			const fcgi = this.#connect();
			let head = Buffer.alloc(0), parsed = null, done = false;
			const reader = new FcgiRecordReader();
			this.#begin(fcgi, req, req.socket, body.length);
			const stdin = [];
			for (let off = 0; off < body.length; off += MAX_CONTENT)
				stdin.push(fcgiRecord(FCGI.STDIN,
				    body.subarray(off, off + MAX_CONTENT)));
			stdin.push(fcgiRecord(FCGI.STDIN));
			fcgi.write(Buffer.concat(stdin));
			const finish = () => {
				if (done)
					return;
				done = true;
				if (!parsed && !res.headersSent) {
					res.writeHead(502, { 'Content-Type': 'text/plain' });
					res.end('502 no answer from the FastCGI program\n');
				} else {
					res.end();
				}
				fcgi.end();
			};
			fcgi.on('data', (d) => {
				for (const rec of reader.push(d)) {
					if (rec.type === FCGI.STDERR) {
						this.log(`stderr: ${rec.content}`);
					} else if (rec.type === FCGI.END_REQUEST) {
						finish();
					} else if (rec.type === FCGI.STDOUT && !parsed) {
						head = Buffer.concat([head, rec.content]);
						try {
							parsed = parseCgiHead(head);
						} catch (err) {
							this.log(err.message);
							fcgi.destroy();
							finish();
							return;
						}
						if (!parsed)
							continue;
						for (const [k, v] of parsed.headers)
							res.appendHeader(k, v);
						res.writeHead(parsed.status, parsed.reason);
						res.flushHeaders();
						if (parsed.rest.length)
							res.write(parsed.rest);
					} else if (rec.type === FCGI.STDOUT) {
						res.write(rec.content);
					}
				}
			});
			fcgi.on('end', finish);
			fcgi.on('close', finish);
			fcgi.on('error', (err) => {
				this.log(`fastcgi: ${err.message}`);
				finish();
			});
			// The reader went away: EOF to the program at once.
			res.on('close', () => {
				if (!done) {
					this.stats.clientEofs++;
					fcgi.end();
				}
			});
		});
	}

	#upgrade(req, sock, head) {
		this.stats.requests++;
		this.conns.add(sock);
		sock.on('close', () => this.conns.delete(sock));
		sock.setNoDelay(true);
		const fcgi = this.#connect();
		fcgi.setNoDelay(true);
		const reader = new FcgiRecordReader();
		let pending = head.length ? [Buffer.from(head)] : [];
		let state = 'head';	// head -> upgraded | response -> done
		let cgiHead = Buffer.alloc(0);
		let writes = Promise.resolve();
		let programGone = false;	// it stopped reading its input

		this.#begin(fcgi, req, sock, 0);

		// Client bytes -> FCGI_STDIN records of random sizes, the
		// record stream written in random slices, in order.
		const toProgram = (data) => {
			const recs = [];
			for (let off = 0; off < data.length;) {
				const n = Math.min(data.length - off,
				    1 + Math.floor(this.random() * this.maxRecord));
				recs.push(fcgiRecord(FCGI.STDIN, data.subarray(off, off + n)));
				off += n;
				this.stats.stdinRecords++;
			}
			this.stats.stdinBytes += data.length;
			const stream = Buffer.concat(recs);
			writes = writes.then(async () => {
				// What node still holds (BEGIN_REQUEST, PARAMS) first.
				if (fcgi.writableLength > 0 && !fcgi.destroyed)
					await new Promise((r) => fcgi.once('drain', r));
				for (let off = 0; off < stream.length;) {
					if (programGone || fcgi.destroyed ||
					    fcgi.writableEnded)
						return;
					const n = Math.min(stream.length - off,
					    1 + Math.floor(this.random() * 64));
					const w = writeFd(fcgi, stream.subarray(off, off + n));
					if (w < 0) {
						programGone = true;
						this.log('fastcgi: the program stopped reading');
						return;
					}
					off += w;
					await new Promise((r) => w > 0 ? setImmediate(r)
					    : setTimeout(r, 5));
				}
			});
		};

		const closeClient = () => {
			if (state === 'done')
				return;
			if (state === 'head')
				sock.write('HTTP/1.1 502 Bad Gateway\r\n' +
				    'Connection: close\r\n\r\n');
			state = 'done';
			writes.then(() => {
				sock.end();
				setTimeout(() => sock.destroy(), 2000).unref();
			});
		};

		sock.on('data', (d) => {
			if (state === 'head')
				pending.push(Buffer.from(d));
			else if (state === 'upgraded')
				toProgram(d);
			// After a refusal the client's bytes go nowhere.
		});
		// The client left (FIN or reset): EOF to the program, as
		// tcp-fin-propagate does; the program then ends the request.
		const clientGone = () => {
			if (!fcgi.writableEnded && !programGone) {
				this.stats.clientEofs++;
				writes.then(() => fcgi.end());
			}
		};
		sock.on('end', clientGone);
		sock.on('close', clientGone);
		sock.on('error', (err) => this.log(`client: ${err.message}`));

		fcgi.on('data', (d) => {
			for (const rec of reader.push(d)) {
				if (rec.type === FCGI.STDERR) {
					this.log(`stderr: ${rec.content}`);
				} else if (rec.type === FCGI.END_REQUEST) {
					closeClient();
				} else if (rec.type === FCGI.STDOUT && state === 'head') {
					cgiHead = Buffer.concat([cgiHead, rec.content]);
					let parsed;
					try {
						parsed = parseCgiHead(cgiHead);
					} catch (err) {
						this.log(err.message);
						sock.end('HTTP/1.1 502 Bad Gateway\r\n' +
						    'Connection: close\r\n\r\n');
						fcgi.destroy();
						state = 'done';
						return;
					}
					if (parsed)
						this.#answer(parsed, sock, fcgi, () => {
							state = 'upgraded';
							const early = Buffer.concat(pending);
							pending = [];
							if (early.length)
								toProgram(early);
						}, () => {
							state = 'response';
							pending = [];
						});
				} else if (rec.type === FCGI.STDOUT && state !== 'done') {
					sock.write(rec.content);
				}
			}
		});
		fcgi.on('end', closeClient);
		fcgi.on('close', closeClient);
		fcgi.on('error', (err) => {
			this.log(`fastcgi: ${err.message}`);
			if (state === 'head') {
				sock.end('HTTP/1.1 502 Bad Gateway\r\n' +
				    'Connection: close\r\n\r\n');
				state = 'done';
			} else {
				closeClient();
			}
		});
	}

	// The program's answer to an upgrade request.
	#answer(parsed, sock, fcgi, upgraded, refused) {
		const get = (name) => parsed.headers.find(([k]) =>
		    k.toLowerCase() === name)?.[1];
		let out;
		if (parsed.status === 101 && get('upgrade') !== undefined) {
			this.stats.upgrades++;
			out = 'HTTP/1.1 101 Switching Protocols\r\n';
			for (const [k, v] of parsed.headers)
				out += `${k}: ${v}\r\n`;
			if (!hasToken(get('connection'), 'upgrade'))
				out += 'Connection: upgrade\r\n';
			out += '\r\n';
			sock.write(out);
			if (parsed.rest.length)
				sock.write(parsed.rest);
			upgraded();
			return;
		}
		// Not switching: FCGI_STDIN ends (lighttpd does so then), the
		// answer goes out as it is, and the connection closes after it.
		this.stats.refused++;
		writeFd(fcgi, fcgiRecord(FCGI.STDIN));
		out = `HTTP/1.1 ${parsed.status} ${parsed.reason}\r\n`;
		for (const [k, v] of parsed.headers) {
			if (!/^(connection|upgrade)$/i.test(k))
				out += `${k}: ${v}\r\n`;
		}
		out += 'Connection: close\r\n\r\n';
		sock.write(out);
		if (parsed.rest.length)
			sock.write(parsed.rest);
		refused();
	}
}

// node fcgi-upgrade-proxy.mjs --port N --fcgi unix:PATH|HOST:PORT
if (process.argv[1] === fileURLToPath(import.meta.url)) {
	const args = process.argv.slice(2);
	const opt = (name, def) => {
		const i = args.indexOf(name);
		return i >= 0 ? args[i + 1] : def;
	};
	const target = opt('--fcgi');
	if (!target) {
		console.error('usage: node fcgi-upgrade-proxy.mjs [--port N] ' +
		    '--fcgi unix:PATH|HOST:PORT [--max-record N] [--seed N]');
		process.exit(2);
	}
	let backend = target;
	if (target.startsWith('unix:')) {
		backend = target.slice(5);
	} else {
		const c = target.lastIndexOf(':');
		backend = { host: target.slice(0, c), port: Number(target.slice(c + 1)) };
	}
	const proxy = new FcgiUpgradeProxy({ backend,
	    maxRecord: Number(opt('--max-record', 13)),
	    seed: Number(opt('--seed', Date.now() >>> 0)), logFile: '/dev/stderr' });
	const port = await proxy.listen(Number(opt('--port', 0)));
	console.log(`listening on http://127.0.0.1:${port}/ (seed ${proxy.seed})`);
}
