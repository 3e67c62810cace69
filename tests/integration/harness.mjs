// Integration harness: starts Debian's lighttpd with herenow behind it on a
// free port of 127.0.0.1, from the same conf/*.in files that are installed,
// and gives the tests SSE readers, HTTP helpers and a look into the database.
// Everything it starts is stopped at the end, also when a test fails.

import { spawn, execFile } from 'node:child_process';
import { EventSource } from 'eventsource';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);

const here = path.dirname(fileURLToPath(import.meta.url));
export const repo = path.resolve(here, '..', '..');
// The binary under test: HERENOW_BIN, else the scripts' build directory.
export const herenowBin = path.resolve(here,
	process.env.HERENOW_BIN || path.join('..', '..', '_build', 'src', 'herenow'));

// Short values so that reaping and grace fit in a test; a file may override.
export const testConfig = {
	heartbeat: '1s',
	stale_after: '3s',
	leave_grace: '500ms',
	broadcast_interval: '250ms',
	site_interval: '1s',
	poll_interval: '100ms',
	sse_heartbeat: '5s',
};

export function ms(duration) {
	const m = /^(\d+)(ms|s|m|h)$/.exec(duration);
	if (!m)
		throw new Error(`bad duration ${duration}`);
	return Number(m[1]) * { ms: 1, s: 1000, m: 60000, h: 3600000 }[m[2]];
}

export function sleep(millis) {
	return new Promise((resolve) => setTimeout(resolve, millis));
}

// Polls predicate (sync or async) until it returns a truthy value, which is
// returned; an error thrown by it counts as "not yet" unless it is marked
// fatal.  Throws after deadlineMs, naming what was awaited and, when
// given, what the world looked like then.
export async function waitFor(predicate, deadlineMs, what = 'condition',
    describe = null) {
	const start = Date.now();
	let last;
	for (;;) {
		// A predicate that hangs (a request nobody answers) must not
		// hold the wait past its deadline.
		let timer;
		const left = Math.max(deadlineMs - (Date.now() - start), 0) + 100;
		try {
			last = await Promise.race([predicate(),
			    new Promise((resolve) => {
				timer = setTimeout(resolve, left, undefined);
			    })]);
		} catch (err) {
			last = undefined;
			if (err.fatal || Date.now() - start > deadlineMs)
				throw err;
		}
		clearTimeout(timer);
		if (last)
			return last;
		if (Date.now() - start > deadlineMs) {
			let detail = '';
			if (describe) {
				try {
					detail = '\n  state: ' + await describe();
				} catch (err) {
					detail = `\n  (describe failed: ${err})`;
				}
			}
			throw new Error(`timed out after ${deadlineMs} ms ` +
			    `waiting for ${what}${detail}`);
		}
		await sleep(25);
	}
}

// Watches for deadlineMs while check() must hold (for "never" assertions).
export async function holdFor(check, deadlineMs) {
	const end = Date.now() + deadlineMs;
	while (Date.now() < end) {
		check();
		await sleep(25);
	}
	check();
}

async function freePort() {
	return new Promise((resolve, reject) => {
		const srv = net.createServer();
		srv.unref();
		srv.on('error', reject);
		srv.listen(0, '127.0.0.1', () => {
			const { port } = srv.address();
			srv.close(() => resolve(port));
		});
	});
}

function fill(template, values) {
	let out = fs.readFileSync(template, 'utf8');
	for (const [key, value] of Object.entries(values))
		out = out.split(`@${key}@`).join(String(value));
	const left = /@HERENOW_[A-Z_]+@/.exec(out);
	if (left)
		throw new Error(`${template}: placeholder ${left[0]} not filled`);
	return out;
}

// Live (not zombie) processes whose parent is ppid, from /proc.
export function childPids(ppid) {
	const pids = [];
	for (const ent of fs.readdirSync('/proc')) {
		if (!/^\d+$/.test(ent))
			continue;
		let stat;
		try {
			stat = fs.readFileSync(`/proc/${ent}/stat`, 'utf8');
		} catch {
			continue;
		}
		// "pid (comm) state ppid ...": comm may hold spaces.
		const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
		if (Number(rest[1]) === ppid && rest[0] !== 'Z' && rest[0] !== 'X')
			pids.push(Number(ent));
	}
	return pids.sort((a, b) => a - b);
}

export function alive(pid) {
	try {
		const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
		const state = stat.slice(stat.lastIndexOf(')') + 2)[0];
		return state !== 'Z' && state !== 'X';
	} catch {
		return false;
	}
}

// Every server any test started, so that an abrupt exit still stops them.
const running = new Set();
process.on('exit', () => {
	for (const s of running)
		s.killNow();
});
for (const sig of ['SIGINT', 'SIGTERM']) {
	process.on(sig, () => {
		for (const s of running)
			s.killNow();
		process.exit(130);
	});
}

let serial = 0;

export class Server {
	constructor(opts = {}) {
		this.name = opts.name || 'herenow';
		this.maxProcs = opts.maxProcs || 1;
		this.config = { ...testConfig, ...(opts.config || {}) };
		this.env = opts.env || {};
		this.readers = new Set();
		this.herenowPids = new Set();
	}

	// Makes the directory, writes herenow.conf and the lighttpd
	// configuration, starts lighttpd and waits until health answers.
	async start() {
		if (!fs.existsSync(herenowBin))
			throw new Error(`no herenow binary at ${herenowBin} ` +
			    '(build it, or set HERENOW_BIN)');
		const base = process.env.HERENOW_TEST_DIR || os.tmpdir();
		fs.mkdirSync(base, { recursive: true });
		this.dir = fs.mkdtempSync(path.join(base,
		    `${this.name}-${process.pid}-${serial++}-`));
		// A unix socket path must stay short; the test directory may not.
		this.sockDir = fs.mkdtempSync(path.join(os.tmpdir(), 'hn-sock-'));
		this.db = path.join(this.dir, 'herenow.db');
		this.confFile = path.join(this.dir, 'herenow.conf');
		this.errorLog = path.join(this.dir, 'lighttpd-error.log');
		this.herenowLog = path.join(this.dir, 'herenow.log');

		let conf = '# written by tests/integration/harness.mjs\n';
		conf += `db = ${this.db}\n`;
		for (const [k, v] of Object.entries(this.config))
			conf += `${k} = ${v}\n`;
		fs.writeFileSync(this.confFile, conf);

		this.snippet = path.join(this.dir, 'lighttpd-herenow.conf');
		fs.writeFileSync(this.snippet, fill(
		    path.join(repo, 'conf', 'lighttpd-herenow.conf.in'), {
			HERENOW_BIN: herenowBin,
			HERENOW_CONFIG: this.confFile,
			HERENOW_SOCKET: path.join(this.sockDir, 'herenow.sock'),
			HERENOW_MAX_PROCS: this.maxProcs,
			HERENOW_WWW: path.join(repo, 'www'),
		}));

		// A port found free may be taken before lighttpd binds it: retry.
		let lastErr;
		for (let attempt = 0; attempt < 5; attempt++) {
			this.port = await freePort();
			this.lighttpdConf = path.join(this.dir, 'lighttpd.conf');
			fs.writeFileSync(this.lighttpdConf, fill(
			    path.join(repo, 'conf', 'lighttpd-standalone.conf.in'), {
				HERENOW_PORT: this.port,
				HERENOW_DOCROOT: path.join(repo, 'www'),
				HERENOW_STATE: this.dir,
				HERENOW_SNIPPET: this.snippet,
			}));
			try {
				await this.#spawn();
				return this;
			} catch (err) {
				lastErr = err;
				await this.#halt();
				if (!/bind|Address already in use/i.test(String(err)))
					break;
			}
		}
		await this.stop();
		throw lastErr;
	}

	async #spawn() {
		this.output = '';
		this.exited = false;
		// lighttpd hands its environment on to herenow, which takes
		// every HERENOW_* variable for a setting (and refuses unknown
		// ones): keep the harness's own (HERENOW_BIN, ...) away from it.
		const env = {};
		for (const [k, v] of Object.entries(process.env)) {
			if (!k.startsWith('HERENOW_'))
				env[k] = v;
		}
		this.proc = spawn('lighttpd', ['-D', '-f', this.lighttpdConf], {
			stdio: ['ignore', 'pipe', 'pipe'],
			env: { ...env, ...this.env },
		});
		running.add(this);
		this.proc.stdout.on('data', (d) => { this.output += d; });
		this.proc.stderr.on('data', (d) => { this.output += d; });
		this.exitPromise = new Promise((resolve) => {
			this.proc.on('exit', (code, signal) => {
				this.exited = true;
				this.exitStatus = signal || code;
				resolve();
			});
		});
		this.base = `http://127.0.0.1:${this.port}`;
		await waitFor(async () => {
			if (this.exited) {
				const err = new Error('lighttpd exited ' +
				    `(${this.exitStatus}):\n${this.output}${this.log()}`);
				err.fatal = true;
				throw err;
			}
			const res = await fetch(this.url('/herenow/health'),
			    { signal: AbortSignal.timeout(3000) });
			const body = await res.text();
			return res.status === 200 && JSON.parse(body).status === 'ok';
		}, 15000, `${this.base}/herenow/health`, () => this.log());
		// Remember every herenow lighttpd started, to stop them at the end.
		this.noteChildren();
	}

	url(p) {
		return this.base + p;
	}

	// lighttpd's error log, then herenow's (its stderr).
	log() {
		let out = '';
		for (const f of [this.errorLog, this.herenowLog]) {
			try {
				out += `--- ${path.basename(f)}\n` +
				    fs.readFileSync(f, 'utf8');
			} catch {
				/* not written yet */
			}
		}
		return out;
	}

	// The herenow processes lighttpd runs now.
	children() {
		if (!this.proc || this.exited)
			return [];
		return childPids(this.proc.pid);
	}

	noteChildren() {
		for (const pid of this.children())
			this.herenowPids.add(pid);
		return [...this.herenowPids];
	}

	// Runs SQL on the database through the sqlite3 command line tool;
	// returns the rows as objects.
	async sql(query) {
		const { stdout } = await execFileP('sqlite3',
		    ['-batch', '-readonly', '-json', '-cmd', '.timeout 5000',
		    this.db, query]);
		return stdout.trim() === '' ? [] : JSON.parse(stdout);
	}

	// Owner id -> number of live sessions it holds.
	async liveByOwner() {
		const rows = await this.sql('SELECT owner, count(*) AS n ' +
		    'FROM sessions WHERE ended IS NULL GROUP BY owner');
		return new Map(rows.map((r) => [r.owner, r.n]));
	}

	reader(opts) {
		const r = new Reader(this, opts);
		this.readers.add(r);
		return r;
	}

	closeReaders() {
		for (const r of this.readers)
			r.close();
		this.readers.clear();
	}

	// SIGKILL at once, for process exit; the async stop() is the normal way.
	killNow() {
		for (const r of this.readers)
			r.close();
		if (this.proc && !this.exited) {
			try { this.proc.kill('SIGKILL'); } catch { /* gone */ }
		}
		for (const pid of this.herenowPids) {
			try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
		}
		running.delete(this);
	}

	// Stops everything and removes the directories (kept under
	// HERENOW_TEST_DIR, for the logs).
	async stop() {
		this.closeReaders();
		await this.#halt();
		running.delete(this);
		if (this.sockDir)
			fs.rmSync(this.sockDir, { recursive: true, force: true });
		if (this.dir && !process.env.HERENOW_TEST_DIR)
			fs.rmSync(this.dir, { recursive: true, force: true });
	}

	// SIGTERM to lighttpd (which passes it on to herenow), SIGKILL to
	// whatever still runs after a deadline.
	async #halt() {
		if (!this.proc)
			return;
		this.noteChildren();
		if (!this.exited) {
			this.proc.kill('SIGTERM');
			try {
				await waitFor(() => this.exited, 5000, 'lighttpd to exit');
			} catch {
				this.proc.kill('SIGKILL');
				await this.exitPromise;
			}
		}
		const left = () => [...this.herenowPids].filter(alive);
		try {
			await waitFor(() => left().length === 0, 5000,
			    'herenow processes to exit');
		} catch {
			for (const pid of left()) {
				try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
			}
		}
		this.herenowPids.clear();
		this.proc = null;
	}
}

export async function startServer(opts) {
	return new Server(opts).start();
}

let visitorSerial = 0;
export function newVisitor(tag = 'v') {
	return `${tag}-${process.pid}-${visitorSerial++}-` +
	    Math.random().toString(36).slice(2, 10);
}

// One SSE reader: keeps the latest count per page and every count it got.
export class Reader {
	constructor(server, { page, visitor = newVisitor(), watch = null,
	    reconnect = true } = {}) {
		this.server = server;
		this.page = page;
		this.visitor = visitor;
		this.latest = new Map();	// page -> last count object
		this.history = [];		// { at, count } in arrival order
		this.errors = [];
		this.closed = false;
		const q = new URLSearchParams();
		if (page !== undefined)
			q.set('page', page);
		if (visitor !== null)
			q.set('visitor', visitor);
		// Like a page, a watched path is decoded twice (the query, then
		// the page key): a comma inside one is escaped once here, the
		// list is escaped as a whole by URLSearchParams.
		if (watch)
			q.set('watch', watch.map((p) => p.replace(/,/g, '%2C'))
			    .join(','));
		this.es = new EventSource(server.url(`/herenow/sse?${q}`));
		this.es.addEventListener('count', (ev) => {
			const count = JSON.parse(ev.data);
			this.latest.set(count.page, count);
			this.history.push({ at: Date.now(), count });
		});
		this.es.addEventListener('error', (ev) => {
			this.errors.push({ at: Date.now(), message: ev.message,
			    code: ev.code });
			// The killed-process test wants to see who lost the
			// stream, not have them come back.
			if (!reconnect)
				this.close();
		});
	}

	// Latest count of a page (the reader's own by default), or undefined.
	count(page = this.page) {
		return this.latest.get(page);
	}

	readers(page = this.page) {
		const c = this.count(page);
		return c ? c.readers : undefined;
	}

	// Counts of page received since time t (ms since the epoch).
	since(t, page = this.page) {
		return this.history.filter((h) => h.at >= t &&
		    h.count.page === page).map((h) => h.count);
	}

	close() {
		if (this.closed)
			return;
		this.closed = true;
		this.es.close();
		this.server.readers.delete(this);
	}
}

// Opens n readers of page, each its own visitor.
export function openReaders(server, n, page, opts = {}) {
	const out = [];
	for (let i = 0; i < n; i++)
		out.push(server.reader({ page, ...opts }));
	return out;
}

export function summary(readers, page) {
	const seen = readers.map((r) => {
		const c = r.count(page ?? r.page);
		return c ? `${c.readers}/${c.tabs}/${c.site}` : '-';
	});
	return `readers/tabs/site per reader: [${seen.join(' ')}]`;
}

// GET with curl: { status, type, body, json }.
export async function curl(url) {
	const { stdout } = await execFileP('curl', ['-sS', '--max-time', '10',
	    '-o', '-', '-w', '\n%{http_code} %{content_type}', url],
	    { maxBuffer: 1 << 20 });
	const cut = stdout.lastIndexOf('\n');
	const body = stdout.slice(0, cut);
	const [status, ...type] = stdout.slice(cut + 1).split(' ');
	let json;
	try {
		json = JSON.parse(body);
	} catch {
		json = undefined;
	}
	return { status: Number(status), type: type.join(' '), body, json };
}
