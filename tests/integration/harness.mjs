// Integration harness: starts Debian's lighttpd with herenow behind it on a
// free port of 127.0.0.1, from the same conf/*.in files that are installed,
// and gives the tests SSE and WebSocket readers, HTTP helpers and a look
// into the database.  WebSocket reaches herenow through mod_wstunnel (both
// layouts of conf/lighttpd-herenow.conf.in), mod_cgi's upgrade
// (conf/lighttpd-cgi.conf.in), or FastCGI upgrade through
// fcgi-upgrade-proxy.mjs, the stand-in for lighttpd >= 1.4.74.
// Everything it starts is stopped at the end, also when a test fails.

import { spawn, execFile } from 'node:child_process';
import { EventSource } from 'eventsource';
import WebSocket from 'ws';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import assert from 'node:assert/strict';
import { FcgiUpgradeProxy } from './fcgi-upgrade-proxy.mjs';

const execFileP = promisify(execFile);

const here = path.dirname(fileURLToPath(import.meta.url));
export const repo = path.resolve(here, '..', '..');
// The binary under test: HERENOW_BIN, else the scripts' build directory.
export const herenowBin = path.resolve(here,
	process.env.HERENOW_BIN || path.join('..', '..', '_build', 'src', 'herenow'));
// The statically linked one (configure --enable-static-binary), for the
// shared-hosting tests: HERENOW_STATIC_BIN, else tests/run.sh's _build-static/.
export const herenowStaticBin = path.resolve(here,
	process.env.HERENOW_STATIC_BIN ||
	path.join('..', '..', '_build-static', 'src', 'herenow'));

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

export function fill(template, values) {
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

// The mod_wstunnel block of the snippet, between its marker lines.
const wstBlock = /^[ \t]*#### mod_wstunnel:.*\n[\s\S]*?^[ \t]*#### end of mod_wstunnel ####\n/m;

// The snippet for a tunnel layout (DESIGN §3, conf/lighttpd-herenow.conf.in):
// 'spawn' as installed (lighttpd runs `herenow --tunnel`), 'listen' with
// the lines marked "(a)" deleted as the snippet says (the FastCGI process
// listens on tunnel_listen), 'none' without the tunnel at all, for tests
// that count lighttpd's children or the owners.
export function tunnelLayout(snippet, layout) {
	const m = wstBlock.exec(snippet);
	if (!m)
		throw new Error('no mod_wstunnel block in the snippet');
	if (layout === 'spawn')
		return snippet;
	if (layout === 'none')
		return snippet.replace(wstBlock, '');
	if (layout !== 'listen')
		throw new Error(`unknown tunnel layout ${layout}`);
	const block = m[0].split('\n').filter((l) =>
	    !/#\s*\(a\)\s*$/.test(l)).join('\n');
	return snippet.replace(wstBlock, block);
}

// herenow's origins setting as lighttpd's wstunnel.origins list.
export function wstOrigins(origins) {
	return (origins || '').split(/\s+/).filter(Boolean)
	    .map((o) => JSON.stringify(o)).join(', ');
}

// herenow's environment: the harness's own HERENOW_* variables (HERENOW_BIN,
// ...) would be taken for settings, and refused.
export function cleanEnv(extra = {}) {
	const env = {};
	for (const [k, v] of Object.entries(process.env)) {
		if (!k.startsWith('HERENOW_'))
			env[k] = v;
	}
	return { ...env, ...extra };
}

// What /proc/PID/cmdline says a herenow process is.
function processKind(pid) {
	let argv;
	try {
		argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8')
		    .split('\0').filter(Boolean);
	} catch {
		return 'gone';
	}
	if (argv.includes('--tunnel'))
		return 'tunnel';
	if (argv[0] && argv[0].endsWith('.cgi'))
		return 'cgi';
	return 'fastcgi';
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

// opts: name, maxProcs (FastCGI processes), config (herenow.conf keys over
// testConfig), env (lighttpd's and so herenow's environment), db (the
// database file, e.g. another server's, to share its session table; by
// default one in the server's own directory), and for WebSocket: tunnel
// ('none', 'spawn', 'listen': see tunnelLayout), cgi (herenow.cgi in a
// cgi-bin served by conf/lighttpd-cgi.conf.in), cgiBin (the binary copied
// there, herenowBin by default), cgiUpgrade (false: the cgi.upgrade line
// taken out, as on a host without it), fastcgi (false: no
// lighttpd-herenow.conf at all, no fastcgi.server, as on a host with
// mod_cgi only; needs cgi),
// upgrade (a herenow --listen with fastcgi_upgrade on, behind
// fcgi-upgrade-proxy), lighttpdExtra (lines added to lighttpd.conf after
// the snippets).
export class Server {
	constructor(opts = {}) {
		this.name = opts.name || 'herenow';
		this.maxProcs = opts.maxProcs || 1;
		this.config = { ...testConfig, ...(opts.config || {}) };
		this.env = opts.env || {};
		this.sharedDb = opts.db || null;
		this.tunnel = opts.tunnel || 'none';
		this.cgi = Boolean(opts.cgi);
		this.cgiBin = opts.cgiBin || herenowBin;
		this.cgiUpgrade = opts.cgiUpgrade !== false;
		this.fastcgi = opts.fastcgi !== false;
		this.upgrade = Boolean(opts.upgrade);
		this.lighttpdExtra = opts.lighttpdExtra || '';
		if (this.tunnel === 'listen' && this.maxProcs !== 1)
			throw new Error('tunnel layout listen needs maxProcs 1');
		if (!this.fastcgi && (!this.cgi || this.tunnel !== 'none' ||
		    this.upgrade))
			throw new Error('fastcgi: false is a cgi-only server');
		this.readers = new Set();
		this.herenowPids = new Set();
	}

	// Writes a herenow.conf with the test's settings, some more, some
	// fewer.
	#writeConf(file, more = {}, omit = []) {
		let conf = '# written by tests/integration/harness.mjs\n';
		conf += `db = ${this.db}\n`;
		for (const [k, v] of Object.entries({ ...this.config, ...more })) {
			if (!omit.includes(k))
				conf += `${k} = ${v}\n`;
		}
		fs.writeFileSync(file, conf);
	}

	// Makes the directory, writes herenow.conf and the lighttpd
	// configuration, starts lighttpd and waits until health answers.
	async start() {
		for (const bin of [this.fastcgi || this.upgrade ? herenowBin : null,
		    this.cgi ? this.cgiBin : null]) {
			if (bin && !fs.existsSync(bin))
				throw new Error(`no herenow binary at ${bin} (build ` +
				    'it, or set HERENOW_BIN or HERENOW_STATIC_BIN)');
		}
		const base = process.env.HERENOW_TEST_DIR || os.tmpdir();
		fs.mkdirSync(base, { recursive: true });
		this.dir = fs.mkdtempSync(path.join(base,
		    `${this.name}-${process.pid}-${serial++}-`));
		// A unix socket path must stay short; the test directory may not.
		this.sockDir = fs.mkdtempSync(path.join(os.tmpdir(), 'hn-sock-'));
		this.db = this.sharedDb || path.join(this.dir, 'herenow.db');
		this.confFile = path.join(this.dir, 'herenow.conf');
		this.errorLog = path.join(this.dir, 'lighttpd-error.log');
		this.herenowLog = path.join(this.dir, 'herenow.log');

		this.tunnelSock = path.join(this.sockDir, 'tunnel.sock');
		// Layout (b): the FastCGI process serves the tunnel, as the
		// snippet tells an operator to set it up.
		this.#writeConf(this.confFile, this.tunnel === 'listen'
		    ? { tunnel_listen: `unix:${this.tunnelSock}` } : {});

		this.snippet = path.join(this.dir, 'lighttpd-herenow.conf');
		let snippet = !this.fastcgi ? '' : tunnelLayout(fill(
		    path.join(repo, 'conf', 'lighttpd-herenow.conf.in'), {
			HERENOW_BIN: herenowBin,
			HERENOW_CONFIG: this.confFile,
			HERENOW_SOCKET: path.join(this.sockDir, 'herenow.sock'),
			HERENOW_TUNNEL_SOCKET: this.tunnelSock,
			HERENOW_MAX_PROCS: this.maxProcs,
			HERENOW_WWW: path.join(repo, 'www'),
			HERENOW_WST_ORIGINS: wstOrigins(this.config.origins),
		}), this.tunnel);
		if (this.cgi) {
			// A shared host's layout: the binary copied as herenow.cgi
			// with its herenow.conf beside it.
			this.cgiDir = path.join(this.dir, 'cgi-bin');
			fs.mkdirSync(this.cgiDir);
			fs.copyFileSync(this.cgiBin,
			    path.join(this.cgiDir, 'herenow.cgi'));
			fs.chmodSync(path.join(this.cgiDir, 'herenow.cgi'), 0o755);
			this.#writeConf(path.join(this.cgiDir, 'herenow.conf'), {},
			    ['tunnel_listen']);
			let cgiConf = fill(
			    path.join(repo, 'conf', 'lighttpd-cgi.conf.in'), {
				HERENOW_CGI_DIR: this.cgiDir,
			});
			if (!this.cgiUpgrade) {
				const line = /^[ \t]*cgi\.upgrade[ \t]*=.*\n/m;
				if (!line.test(cgiConf))
					throw new Error('no cgi.upgrade line in ' +
					    'lighttpd-cgi.conf.in');
				cgiConf = cgiConf.replace(line, '');
			}
			snippet += '\n' + cgiConf;
		}
		if (this.lighttpdExtra)
			snippet += '\n' + this.lighttpdExtra + '\n';
		fs.writeFileSync(this.snippet, snippet);

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
				if (this.tunnel !== 'none')
					await waitFor(() => fs.existsSync(this.tunnelSock) ||
					    fs.existsSync(`${this.tunnelSock}-0`), 10000,
					    `the tunnel socket ${this.tunnelSock}`,
					    () => this.log());
				if (this.upgrade)
					await this.#startUpgrade();
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
		this.proc = spawn('lighttpd', ['-D', '-f', this.lighttpdConf], {
			stdio: ['ignore', 'pipe', 'pipe'],
			env: cleanEnv(this.env),
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
		this.healthUrl = this.endpoint('health',
		    this.fastcgi ? 'fastcgi' : 'cgi');
		await waitFor(async () => {
			if (this.exited) {
				const err = new Error('lighttpd exited ' +
				    `(${this.exitStatus}):\n${this.output}${this.log()}`);
				err.fatal = true;
				throw err;
			}
			const res = await fetch(this.healthUrl,
			    { signal: AbortSignal.timeout(3000) });
			const body = await res.text();
			return res.status === 200 && JSON.parse(body).status === 'ok';
		}, 15000, this.healthUrl, () => this.log());
		// Remember every herenow lighttpd started, to stop them at the end.
		this.noteChildren();
	}

	// The FastCGI-upgrade carrier: herenow --listen on a socket of its
	// own with fastcgi_upgrade on (what conf/lighttpd-herenow-upgrade.conf
	// sets up), same database, behind the proxy standing in for lighttpd
	// >= 1.4.74.
	async #startUpgrade() {
		this.upgradeConf = path.join(this.dir, 'herenow-upgrade.conf');
		this.#writeConf(this.upgradeConf, { fastcgi_upgrade: 'on' },
		    ['tunnel_listen']);
		this.upgradeSock = path.join(this.sockDir, 'upgrade.sock');
		this.upgradeLog = path.join(this.dir, 'herenow-upgrade.log');
		this.proxyLog = path.join(this.dir, 'proxy.log');
		const log = fs.openSync(this.upgradeLog, 'a');
		this.upgradeProc = spawn(herenowBin,
		    ['--listen', `unix:${this.upgradeSock}`], {
			stdio: ['ignore', log, log],
			env: cleanEnv({ HERENOW_CONFIG: this.upgradeConf }),
		});
		fs.closeSync(log);
		this.upgradeExited = false;
		this.upgradeExit = new Promise((resolve) => {
			this.upgradeProc.on('exit', (code, signal) => {
				this.upgradeExited = true;
				this.upgradeStatus = signal || code;
				resolve();
			});
		});
		this.herenowPids.add(this.upgradeProc.pid);
		await waitFor(() => {
			if (this.upgradeExited) {
				const err = new Error('herenow --listen exited ' +
				    `(${this.upgradeStatus}):\n${this.log()}`);
				err.fatal = true;
				throw err;
			}
			return fs.existsSync(this.upgradeSock);
		}, 10000, `herenow --listen on ${this.upgradeSock}`);
		this.proxy = new FcgiUpgradeProxy({ backend: this.upgradeSock,
		    logFile: this.proxyLog, docroot: path.join(repo, 'www') });
		this.proxyPort = await this.proxy.listen(0);
		this.proxyBase = `http://127.0.0.1:${this.proxyPort}`;
		await waitFor(async () => {
			const res = await fetch(this.proxyBase + '/herenow/health',
			    { signal: AbortSignal.timeout(3000) });
			return res.status === 200;
		}, 10000, 'health through the upgrade proxy', () => this.log());
	}

	// SIGTERM to the FastCGI-upgrade carrier's herenow (tests of
	// shutdown call it too); resolves when it has exited.
	async stopUpgradeProgram(deadlineMs = 5000) {
		if (!this.upgradeProc || this.upgradeExited)
			return;
		this.upgradeProc.kill('SIGTERM');
		try {
			await waitFor(() => this.upgradeExited, deadlineMs,
			    'herenow --listen to exit');
		} catch (err) {
			this.upgradeProc.kill('SIGKILL');
			await this.upgradeExit;
			throw err;
		}
	}

	url(p) {
		return this.base + p;
	}

	// Where a WebSocket reaches herenow: 'wst' (mod_wstunnel), 'cgi'
	// (mod_cgi upgrade), 'upgrade' (FastCGI upgrade, through the proxy).
	wsUrl(carrier) {
		const ws = (base) => base.replace(/^http/, 'ws');
		switch (carrier) {
		case 'wst':
			return ws(this.base) + '/herenow/wst';
		case 'cgi':
			return ws(this.base) + '/cgi-bin/herenow.cgi/ws';
		case 'upgrade':
			return ws(this.proxyBase) + '/herenow/ws';
		default:
			throw new Error(`unknown carrier ${carrier}`);
		}
	}

	// An endpoint (e.g. 'sse', 'count') as each carrier serves it:
	// 'fastcgi' (lighttpd, the default), 'cgi', 'upgrade' (the proxy).
	endpoint(name, via = 'fastcgi') {
		switch (via) {
		case 'fastcgi':
			return `${this.base}/herenow/${name}`;
		case 'cgi':
			return `${this.base}/cgi-bin/herenow.cgi/${name}`;
		case 'upgrade':
			return `${this.proxyBase}/herenow/${name}`;
		default:
			throw new Error(`unknown carrier ${via}`);
		}
	}

	// The origin a browser on the site sends: the first allowed one.
	get origin() {
		const first = (this.config.origins || '').split(/\s+/)
		    .filter(Boolean)[0];
		return first || this.base;
	}

	// lighttpd's error log, then herenow's (its stderr), then the
	// FastCGI-upgrade carrier's.
	log() {
		let out = '';
		for (const f of [this.errorLog, this.herenowLog, this.upgradeLog,
		    this.proxyLog]) {
			if (!f)
				continue;
			try {
				out += `--- ${path.basename(f)}\n` +
				    fs.readFileSync(f, 'utf8');
			} catch {
				/* not written yet */
			}
		}
		return out;
	}

	// The herenow FastCGI processes lighttpd runs now (not the tunnel
	// process, nor CGI ones).
	children() {
		return this.childrenOf('fastcgi');
	}

	// lighttpd's herenow children of one kind: 'fastcgi', 'tunnel', 'cgi'.
	childrenOf(kind) {
		if (!this.proc || this.exited)
			return [];
		return childPids(this.proc.pid).filter((pid) =>
		    processKind(pid) === kind);
	}

	noteChildren() {
		if (this.proc && !this.exited) {
			for (const pid of childPids(this.proc.pid))
				this.herenowPids.add(pid);
		}
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

	wsReader(opts) {
		const r = new WsReader(this, opts);
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
		if (this.proxy)
			this.proxy.close();
		for (const pid of this.herenowPids) {
			try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
		}
		running.delete(this);
	}

	// Stops everything and removes the directories (kept under
	// HERENOW_TEST_DIR, for the logs).
	async stop() {
		this.closeReaders();
		if (this.proxy) {
			await this.proxy.close();
			this.proxy = null;
		}
		try {
			await this.stopUpgradeProgram();
		} catch { /* killed */ }
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
// via: which carrier serves the stream ('fastcgi', 'cgi', 'upgrade').
export class Reader {
	constructor(server, { page, visitor = newVisitor(), watch = null,
	    reconnect = true, via = 'fastcgi' } = {}) {
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
		this.via = via;
		this.es = new EventSource(`${server.endpoint('sse', via)}?${q}`);
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

// text parsed as JSON, or undefined when it is not JSON.
export function jsonOf(text) {
	try {
		return JSON.parse(text);
	} catch {
		return undefined;
	}
}

// The whole body of a node http response: { body, json }.
export function responseBody(res) {
	return new Promise((resolve) => {
		let body = '';
		res.setEncoding('utf8');
		res.on('data', (d) => { body += d; });
		res.on('end', () => resolve({ body, json: jsonOf(body) }));
	});
}

// GET with curl: { status, type, body, json }.
export async function curl(url) {
	const { stdout } = await execFileP('curl', ['-sS', '--max-time', '10',
	    '-o', '-', '-w', '\n%{http_code} %{content_type}', url],
	    { maxBuffer: 1 << 20 });
	const cut = stdout.lastIndexOf('\n');
	const body = stdout.slice(0, cut);
	const [status, ...type] = stdout.slice(cut + 1).split(' ');
	return { status: Number(status), type: type.join(' '), body,
	    json: jsonOf(body) };
}

// ---- WebSocket --------------------------------------------------------

// Folds one JSON line from the server into a reader's state.
function takeLine(r, line) {
	if (line.trim() === '')
		return;
	let msg;
	try {
		msg = JSON.parse(line);
	} catch {
		r.badLines.push(line);
		return;
	}
	if (msg.type === 'count') {
		r.latest.set(msg.page, msg);
		r.history.push({ at: Date.now(), count: msg });
	} else if (msg.type === 'error') {
		r.errors.push(msg);
	} else {
		r.badLines.push(line);
	}
}

// One WebSocket reader through a carrier ('wst', 'cgi', 'upgrade'), with
// the node ws client: sends hello on open (unless hello is false), keeps
// the latest count per page, every count, error lines, and how it ended.
// Server messages are JSON lines; one message may carry several, and on
// the tunnel (lighttpd frames by its reads) a line may even be cut across
// messages, so lines are split from the stream.  Elsewhere (strictLines)
// every message must hold whole lines: one that does not is noted in
// notWhole.
export class WsReader {
	constructor(server, { carrier, page, visitor = newVisitor('ws'),
	    watch = null, origin = server.origin, hello = true,
	    strictLines = carrier !== 'wst' } = {}) {
		this.server = server;
		this.carrier = carrier;
		this.page = page;
		this.visitor = visitor;
		this.latest = new Map();
		this.history = [];
		this.errors = [];		// {"type":"error",...} lines
		this.badLines = [];		// lines that are no count or error
		this.messages = [];		// every text message, as it came
		this.notWhole = [];		// (strictLines) not ending in \n
		this.binary = 0;		// binary messages (there should be none)
		this.failures = [];		// the client's 'error' events
		this.carry = '';
		this.strictLines = strictLines;
		this.opened = false;
		this.closed = false;
		this.closeInfo = null;		// { code, reason, at }
		this.refused = null;		// { status, body, json }: no upgrade
		this.ws = new WebSocket(server.wsUrl(carrier), {
			origin: origin ?? undefined,
			handshakeTimeout: 10000,
		});
		this.ws.on('open', () => {
			this.opened = true;
			this.openedAt = Date.now();
			if (hello) {
				const msg = { type: 'hello' };
				if (page !== undefined)
					msg.page = page;
				if (visitor !== null)
					msg.visitor = visitor;
				if (watch)
					msg.watch = watch;
				this.send(msg);
			}
		});
		this.ws.on('message', (data, isBinary) => {
			if (isBinary)
				this.binary++;
			const text = data.toString('utf8');
			this.messages.push(text);
			if (this.strictLines && !text.endsWith('\n'))
				this.notWhole.push(text);
			const lines = (this.carry + text).split('\n');
			this.carry = lines.pop();
			for (const line of lines)
				takeLine(this, line);
		});
		this.ws.on('close', (code, reason) => {
			this.closed = true;
			this.closeInfo = { code, reason: reason.toString(),
			    at: Date.now() };
		});
		this.ws.on('unexpected-response', async (req, res) => {
			const { body, json } = await responseBody(res);
			this.refused = { status: res.statusCode,
			    type: res.headers['content-type'], body, json };
			this.closed = true;
			req.destroy();
		});
		this.ws.on('error', (err) => {
			this.failures.push(err.message);
		});
	}

	count(page = this.page) {
		return this.latest.get(page);
	}

	readers(page = this.page) {
		const c = this.count(page);
		return c ? c.readers : undefined;
	}

	since(t, page = this.page) {
		return this.history.filter((h) => h.at >= t &&
		    h.count.page === page).map((h) => h.count);
	}

	send(msg) {
		this.ws.send(typeof msg === 'string' ? msg : JSON.stringify(msg));
	}

	// Single-page navigation: the stream moves to another page.
	moveTo(page) {
		this.page = page;
		this.send({ type: 'page', page });
	}

	watch(pages) {
		this.send({ type: 'watch', pages });
	}

	async waitOpen(deadlineMs = 10000) {
		await waitFor(() => {
			if (this.refused || (this.closed && !this.opened)) {
				const err = new Error('the WebSocket did not open: ' +
				    JSON.stringify(this.refused || this.closeInfo) +
				    ` ${this.failures.join('; ')}`);
				err.fatal = true;
				throw err;
			}
			return this.opened;
		}, deadlineMs, `${this.carrier} WebSocket to open`);
	}

	async waitClosed(deadlineMs = 10000) {
		await waitFor(() => this.closed, deadlineMs,
		    `${this.carrier} WebSocket to close`);
		return this.closeInfo;
	}

	// A normal close (close frame), as a browser leaving the page.
	close(code = 1000) {
		this.server.readers.delete(this);
		if (this.closed)
			return;
		try {
			if (this.ws.readyState === WebSocket.OPEN)
				this.ws.close(code);
			else
				this.ws.terminate();
		} catch { /* already going */ }
	}

	// The connection cut without a close frame (a tab killed, a network
	// gone).
	terminate() {
		this.server.readers.delete(this);
		this.ws.terminate();
	}
}

// One client frame: masked unless told otherwise.
export function wsFrame(opcode, payload = Buffer.alloc(0), { fin = true,
    mask = true, rsv = 0, maskKey = crypto.randomBytes(4) } = {}) {
	const data = Buffer.from(payload);
	let head;
	if (data.length < 126) {
		head = Buffer.from([0, data.length]);
	} else if (data.length < 65536) {
		head = Buffer.alloc(4);
		head[1] = 126;
		head.writeUInt16BE(data.length, 2);
	} else {
		head = Buffer.alloc(10);
		head[1] = 127;
		head.writeBigUInt64BE(BigInt(data.length), 2);
	}
	head[0] = (fin ? 0x80 : 0) | ((rsv & 7) << 4) | (opcode & 0x0f);
	if (!mask)
		return Buffer.concat([head, data]);
	head[1] |= 0x80;
	const body = Buffer.alloc(data.length);
	for (let i = 0; i < data.length; i++)
		body[i] = data[i] ^ maskKey[i % 4];
	return Buffer.concat([head, maskKey, body]);
}

// A WebSocket client on a raw socket, for what a well-behaved client never
// sends (unmasked frames, bad UTF-8, oversize messages) and for not
// answering pings.  connect() makes the handshake itself; the server's
// frames are parsed into frames[], its close frame into closeFrame.
export class RawWs {
	constructor(url, { origin, autoPong = true, version = '13',
	    key = crypto.randomBytes(16).toString('base64'), headers = {} } = {}) {
		this.url = new URL(url);
		this.origin = origin;
		this.autoPong = autoPong;
		this.version = version;
		this.key = key;
		this.headers = headers;
		this.frames = [];		// { fin, opcode, payload, at }
		this.pings = 0;
		this.closeFrame = null;		// { code, reason, payload, at }
		this.ended = false;
		this.endedAt = null;
		this.response = null;		// { status, headers, body, json }
		this.buf = Buffer.alloc(0);
		this.violations = [];		// server frames breaking RFC 6455
	}

	// Resolves with the handshake's answer; frames flow after a 101.
	connect(deadlineMs = 10000) {
		return new Promise((resolve, reject) => {
			const sock = net.connect(Number(this.url.port), this.url.hostname);
			this.sock = sock;
			const timer = setTimeout(() => {
				sock.destroy();
				reject(new Error(`no handshake answer from ${this.url} ` +
				    `in ${deadlineMs} ms`));
			}, deadlineMs);
			let head = null;
			sock.on('connect', () => {
				let req = `GET ${this.url.pathname}${this.url.search} HTTP/1.1\r\n` +
				    `Host: ${this.url.host}\r\n` +
				    'Upgrade: websocket\r\nConnection: Upgrade\r\n' +
				    `Sec-WebSocket-Key: ${this.key}\r\n` +
				    `Sec-WebSocket-Version: ${this.version}\r\n`;
				if (this.origin)
					req += `Origin: ${this.origin}\r\n`;
				for (const [k, v] of Object.entries(this.headers))
					req += `${k}: ${v}\r\n`;
				sock.write(req + '\r\n');
			});
			sock.on('data', (d) => {
				this.buf = Buffer.concat([this.buf, d]);
				if (!head) {
					const end = this.buf.indexOf('\r\n\r\n');
					if (end < 0)
						return;
					head = this.buf.subarray(0, end).toString('latin1');
					this.buf = this.buf.subarray(end + 4);
					const lines = head.split('\r\n');
					const status = Number(lines[0].split(' ')[1]);
					const headers = {};
					for (const l of lines.slice(1)) {
						const c = l.indexOf(':');
						headers[l.slice(0, c).trim().toLowerCase()] =
						    l.slice(c + 1).trim();
					}
					this.response = { status, headers, body: '' };
					if (status === 101) {
						const expect = crypto.createHash('sha1')
						    .update(this.key +
						    '258EAFA5-E914-47DA-95CA-C5AB0DC85B11')
						    .digest('base64');
						this.acceptOk =
						    headers['sec-websocket-accept'] === expect;
						clearTimeout(timer);
						resolve(this.response);
					}
				}
				if (this.response.status === 101) {
					this.#parse();
				} else {
					// A refusal with a length need not close.
					const n = Number(this.response.headers['content-length']);
					if (Number.isFinite(n) && this.buf.length >= n)
						sock.destroy();
				}
			});
			const done = () => {
				if (this.ended)
					return;
				this.ended = true;
				this.endedAt = Date.now();
				clearTimeout(timer);
				if (this.response && this.response.status !== 101) {
					this.response.body = this.buf.toString('utf8');
					try {
						this.response.json = JSON.parse(this.response.body);
					} catch { /* not JSON */ }
					resolve(this.response);
				} else if (!this.response) {
					reject(new Error(`${this.url}: closed before answering`));
				}
			};
			sock.on('end', () => {
				done();
				sock.end();
			});
			sock.on('close', done);
			sock.on('error', (err) => {
				this.error = err.message;
				done();
			});
		});
	}

	#parse() {
		for (;;) {
			const b = this.buf;
			if (b.length < 2)
				return;
			let len = b[1] & 0x7f, off = 2;
			if (len === 126) {
				if (b.length < 4)
					return;
				len = b.readUInt16BE(2);
				off = 4;
			} else if (len === 127) {
				if (b.length < 10)
					return;
				len = Number(b.readBigUInt64BE(2));
				off = 10;
			}
			const masked = (b[1] & 0x80) !== 0;
			if (masked)
				off += 4;
			if (b.length < off + len)
				return;
			const frame = { fin: (b[0] & 0x80) !== 0, rsv: (b[0] >> 4) & 7,
			    opcode: b[0] & 0x0f,
			    payload: Buffer.from(b.subarray(off, off + len)),
			    at: Date.now() };
			if (masked)
				this.violations.push('a masked server frame');
			if (frame.rsv)
				this.violations.push('reserved bits in a server frame');
			this.buf = b.subarray(off + len);
			this.frames.push(frame);
			if (frame.opcode === 0x9) {
				this.pings++;
				if (this.autoPong)
					this.sendFrame(0xa, frame.payload);
			} else if (frame.opcode === 0x8 && !this.closeFrame) {
				const p = frame.payload;
				this.closeFrame = {
					code: p.length >= 2 ? p.readUInt16BE(0) : null,
					reason: p.length > 2 ? p.subarray(2).toString('utf8') : '',
					payload: p,
					at: frame.at,
				};
				// Answer the close as a client does, then hang up.
				if (!this.sock.destroyed) {
					this.sock.write(wsFrame(0x8, p.subarray(0, 2)));
					this.sock.end();
				}
			}
		}
	}

	sendRaw(buf) {
		if (!this.sock.destroyed && this.sock.writable)
			this.sock.write(buf);
	}

	sendFrame(opcode, payload, opts) {
		this.sendRaw(wsFrame(opcode, payload, opts));
	}

	sendText(text, opts) {
		this.sendFrame(0x1, Buffer.from(text), opts);
	}

	// Text messages from the server, and the JSON lines in them.
	texts() {
		return this.frames.filter((f) => f.opcode === 0x1)
		    .map((f) => f.payload.toString('utf8'));
	}

	lines() {
		return this.texts().join('').split('\n').filter((l) => l.trim())
		    .map((l) => {
			try {
				return JSON.parse(l);
			} catch {
				return { unparsed: l };
			}
		});
	}

	counts(page) {
		return this.lines().filter((m) => m.type === 'count' &&
		    (page === undefined || m.page === page));
	}

	errorLines() {
		return this.lines().filter((m) => m.type === 'error');
	}

	// Waits for the server's close frame or the end of the connection.
	async closedByServer(deadlineMs = 10000) {
		await waitFor(() => this.closeFrame || this.ended, deadlineMs,
		    `the server to close ${this.url}`,
		    () => `frames ${JSON.stringify(this.frames.map((f) =>
			[f.opcode, f.payload.toString('latin1').slice(0, 80)]))}`);
		return this.closeFrame;
	}

	destroy() {
		this.sock?.destroy();
	}
}

// Opens a RawWs and expects the upgrade.
export async function rawWs(url, opts) {
	const raw = new RawWs(url, opts);
	const res = await raw.connect();
	if (res.status !== 101) {
		raw.destroy();
		throw new Error(`${url}: ${res.status} instead of 101: ${res.body}`);
	}
	return raw;
}

// Every reader's view of a page, for a failed wait's message.
export function wsSummary(readers, page) {
	return readers.map((r) => {
		const c = r.count(page ?? r.page);
		const tag = r.carrier || `sse/${r.via || 'fastcgi'}`;
		return `${tag}:${c ? `${c.readers}/${c.tabs}/${c.site}` : '-'}` +
		    (r.closeInfo ? `(closed ${r.closeInfo.code})` : '');
	}).join(' ');
}

// ---- WebSocket scenarios, run on every carrier ---------------------------
// Each takes a started server and a carrier ('wst', 'cgi', 'upgrade') and
// asserts; the carriers' test files call them.  Page keys carry the
// carrier's name so that a failure names it.

// Settings for WebSocket servers: pings every second, a leave grace long
// enough to tell "at once" from "after the grace", and an origin list.
export const wsConfig = {
	ws_ping: '1s',
	leave_grace: '2s',
	origins: 'http://allowed.example http://also.example',
};
export const refusedOrigin = 'http://elsewhere.example';

// Live sessions of a visitor, from the table: [page, ...].
export async function liveSessions(server, visitor) {
	const rows = await server.sql('SELECT page FROM sessions WHERE ' +
	    `visitor = '${visitor}' AND ended IS NULL ORDER BY page`);
	return rows.map((r) => r.page);
}

async function allSeeAll(readers, page, n, tabs = n, deadlineMs = 10000) {
	await waitFor(() => readers.every((r) => r.readers(page) === n &&
	    r.count(page).tabs === tabs), deadlineMs,
	    `every reader of ${page} to show ${n} readers and ${tabs} tabs`,
	    () => wsSummary(readers, page));
}

// join and count: readers, tabs of one visitor, site; the count comes at
// once; messages hold whole lines (except on the tunnel).
export async function wsJoinCount(server, carrier) {
	const page = `/${carrier}/join`;
	const t0 = Date.now();
	const four = Array.from({ length: 4 }, () =>
	    server.wsReader({ carrier, page }));
	const visitor = newVisitor('tabs');
	const tabs = [1, 2].map(() => server.wsReader({ carrier, page, visitor }));
	const all = [...four, ...tabs];
	await waitFor(() => all.every((r) => r.count()), 10000,
	    'a first count on every stream', () => wsSummary(all));
	await allSeeAll(all, page, 5, 6);
	await waitFor(() => all.every((r) => r.count().site === 5), 10000,
	    'site 5 (only these five visitors)', () => wsSummary(all));
	for (const r of all) {
		assert.equal(r.count().type, 'count');
		assert.equal(r.count().page, page);
		assert.deepEqual(r.errors, [], 'error lines');
		assert.deepEqual(r.badLines, [], 'lines that are no count');
		assert.equal(r.binary, 0, 'binary messages');
		assert.deepEqual(r.notWhole, [], 'messages cut inside a line');
		assert.ok(r.openedAt - t0 < 10000);
	}
	assert.deepEqual(await liveSessions(server, visitor), [page, page]);

	// One of the two tabs goes: still 5 readers, 5 tabs.
	tabs[0].close();
	await allSeeAll([...four, tabs[1]], page, 5, 5);
	for (const r of all)
		r.close();
}

// navigate: a page message moves the reader; the old page loses it at once
// (not after leave_grace) and it no longer hears about the old page.
export async function wsNavigate(server, carrier) {
	const grace = ms(server.config.leave_grace);
	const a = `/${carrier}/nav/a`, b = `/${carrier}/nav/b`;
	const mover = server.wsReader({ carrier, page: a });
	const stay = server.wsReader({ carrier, page: a });
	const there = server.wsReader({ carrier, page: b });
	await allSeeAll([mover, stay], a, 2);
	await allSeeAll([there], b, 1);

	const t0 = Date.now();
	mover.moveTo(b);
	await waitFor(() => stay.readers(a) === 1, grace - 500,
	    `${a} to drop to 1 before the leave grace (${grace} ms)`,
	    () => wsSummary([stay], a));
	await allSeeAll([mover, there], b, 2);
	assert.ok(Date.now() - t0 < 10000);
	assert.deepEqual(await liveSessions(server, mover.visitor), [b]);

	// The old page's changes no longer reach it.
	const t1 = Date.now();
	const late = server.wsReader({ carrier, page: a });
	await allSeeAll([stay, late], a, 2);
	await holdFor(() => assert.deepEqual(mover.since(t1, a), [],
	    `${a} counts after the move`), 500);
	for (const r of [mover, stay, there, late])
		r.close();
}

// watch: counts of watched pages without being counted there; a new watch
// list replaces the old one.
export async function wsWatch(server, carrier) {
	const p = (x) => `/${carrier}/watch/${x}`;
	const ra = server.wsReader({ carrier, page: p('a') });
	const rb = [1, 2].map(() => server.wsReader({ carrier, page: p('b') }));
	await allSeeAll([ra], p('a'), 1);
	await allSeeAll(rb, p('b'), 2);

	// Watching only, no page.
	const w = server.wsReader({ carrier, page: undefined,
	    watch: [p('a'), p('b')] });
	await waitFor(() => w.readers(p('a')) === 1 && w.readers(p('b')) === 2,
	    10000, 'the watcher to see a at 1 and b at 2',
	    () => JSON.stringify([...w.latest.values()]));
	// Page and watch in one hello.
	const idx = server.wsReader({ carrier, page: p('index'),
	    watch: [p('a')] });
	await waitFor(() => idx.readers(p('index')) === 1 &&
	    idx.readers(p('a')) === 1, 10000, 'index at 1, watching a at 1',
	    () => JSON.stringify([...idx.latest.values()]));
	await holdFor(() => {
		assert.equal(ra.readers(p('a')), 1, 'a counts a watcher');
		for (const r of rb)
			assert.equal(r.readers(p('b')), 2, 'b counts a watcher');
	}, 500);
	assert.deepEqual(await liveSessions(server, w.visitor), []);
	assert.deepEqual(await liveSessions(server, idx.visitor), [p('index')]);

	// A new list replaces the old: c at once (0), a no more.
	w.watch([p('c')]);
	await waitFor(() => w.count(p('c'))?.readers === 0, 10000,
	    'the count of c (0) at once', () => JSON.stringify(
		[...w.latest.values()]));
	const t1 = Date.now();
	const rc = server.wsReader({ carrier, page: p('c') });
	const ra2 = server.wsReader({ carrier, page: p('a') });
	await waitFor(() => w.readers(p('c')) === 1, 10000,
	    'the watcher to see c at 1');
	await allSeeAll([ra, ra2, idx], p('a'), 2);
	await holdFor(() => assert.deepEqual(w.since(t1, p('a')), [],
	    'a counts after it was dropped from the watch list'), 500);
	assert.deepEqual(w.errors, []);
	for (const r of [ra, ...rb, w, idx, rc, ra2])
		r.close();
}

// leave: a reader who closes (or whose connection is cut) is announced
// after leave_grace, not before.
export async function wsLeave(server, carrier) {
	const grace = ms(server.config.leave_grace);
	const page = `/${carrier}/leave`;
	const stay = server.wsReader({ carrier, page });
	const go = server.wsReader({ carrier, page });
	await allSeeAll([stay, go], page, 2);

	let t0 = Date.now();
	go.close();
	await holdFor(() => assert.equal(stay.readers(), 2,
	    'the count dropped before leave_grace'), grace - 700);
	await waitFor(() => stay.readers() === 1, grace + 5000,
	    'the count to drop after leave_grace', () => wsSummary([stay]));
	assert.ok(Date.now() - t0 >= grace - 700);

	// A cut connection (no close frame) is a leave too.
	const cut = server.wsReader({ carrier, page });
	await allSeeAll([stay, cut], page, 2);
	t0 = Date.now();
	cut.terminate();
	await waitFor(() => stay.readers() === 1, grace + 5000,
	    'the count to drop after a cut connection', () => wsSummary([stay]));
	assert.ok(Date.now() - t0 >= grace - 700,
	    'a cut connection went before leave_grace');
	stay.close();
	await waitFor(async () => (await liveSessions(server, stay.visitor))
	    .length === 0, 10000, 'the session to end');
}

// A reload: the same visitor back on the page within leave_grace takes its
// session over, and nobody sees the count move.
export async function wsReload(server, carrier) {
	const grace = ms(server.config.leave_grace);
	const page = `/${carrier}/reload`;
	const stay = server.wsReader({ carrier, page });
	const tab = server.wsReader({ carrier, page });
	await allSeeAll([stay, tab], page, 2);
	const t0 = Date.now();
	tab.close();
	await sleep(Math.min(300, grace / 4));
	const back = server.wsReader({ carrier, page, visitor: tab.visitor });
	await allSeeAll([stay, back], page, 2);
	await holdFor(() => assert.deepEqual(stay.since(t0).map((c) =>
	    c.readers).filter((n) => n !== 2), [],
	    'the count moved during a reload'), grace + 500);
	assert.equal(stay.readers(), 2);
	stay.close();
	back.close();
}

// Bad messages: an error line with the code, then the stream ends (close
// 1008 with the code as reason, except on the tunnel, where lighttpd ends
// the WebSocket); nothing is stored; the others go on.
export async function wsBadMessages(server, carrier) {
	const page = `/${carrier}/bad`;
	const good = server.wsReader({ carrier, page });
	await allSeeAll([good], page, 1);
	const v = () => newVisitor('bad');
	const many = Array.from({ length: 51 }, (_, i) => `/w${i}`);
	const cases = [
		['bad_json', '{"type":"hello","page":]'],
		['bad_json', 'hello there'],
		['bad_message', JSON.stringify({ type: 'dance', page })],
		['bad_json', JSON.stringify([1, 2, 3])],
		['bad_message', JSON.stringify({ type: 'page', page })],
		['bad_page', JSON.stringify({ type: 'hello', page: 'no-slash',
		    visitor: v() })],
		['bad_page', JSON.stringify({ type: 'hello',
		    page: '/' + 'x'.repeat(300), visitor: v() })],
		['bad_visitor', JSON.stringify({ type: 'hello', page,
		    visitor: 'has space' })],
		['bad_visitor', JSON.stringify({ type: 'hello', page,
		    visitor: 'v'.repeat(65) })],
		['bad_watch', JSON.stringify({ type: 'hello', page, visitor: v(),
		    watch: many })],
	];
	// A message cut short is bad JSON; on the tunnel, where messages
	// have no boundaries, it is the start of a value still to come.
	if (carrier !== 'wst')
		cases.push(['bad_json', '{"type":"hello","page":']);
	const opened = cases.map(([code, text]) => {
		const r = server.wsReader({ carrier, page, hello: false });
		r.ws.on('open', () => r.send(text));
		return { code, text, r };
	});
	// After a good hello: a bad page message, or a second hello, ends
	// the stream too.
	const later = server.wsReader({ carrier, page });
	const twice = server.wsReader({ carrier, page });
	await allSeeAll([good, later, twice], page, 3);
	later.send(JSON.stringify({ type: 'page', page: 'nope' }));
	opened.push({ code: 'bad_page', text: 'page message', r: later });
	twice.send(JSON.stringify({ type: 'hello', page }));
	opened.push({ code: 'bad_message', text: 'second hello', r: twice });
	for (const { code, text, r } of opened) {
		const what = `${carrier}: ${text.slice(0, 60)}`;
		await waitFor(() => r.closed, 10000, `${what}: the stream to end`,
		    () => JSON.stringify({ errors: r.errors, lines: r.badLines,
			close: r.closeInfo, failures: r.failures }));
		assert.equal(r.errors.length, 1, `${what}: one error line: ` +
		    JSON.stringify(r.errors));
		assert.equal(r.errors[0].code, code, `${what}: ` +
		    JSON.stringify(r.errors[0]));
		assert.equal(typeof r.errors[0].message, 'string');
		if (carrier !== 'wst') {
			assert.equal(r.closeInfo.code, 1008, `${what}: close code`);
			assert.equal(r.closeInfo.reason, code, `${what}: reason`);
		}
		if (r !== later && r !== twice)
			assert.deepEqual(r.history, [], `${what}: counts sent`);
	}
	for (const [, text] of cases) {
		const m = /"visitor":"([^"]*)"/.exec(text);
		if (m)
			assert.deepEqual(await liveSessions(server, m[1]), [],
			    `stored for ${text.slice(0, 60)}`);
	}
	await waitFor(() => good.readers() === 1, 10000,
	    'the good reader back at 1', () => wsSummary([good]));
	assert.equal(good.closed, false);
	good.close();
}

// Malformed frames on the carriers where herenow parses frames itself
// (FastCGI upgrade, CGI): each is closed with its code; the process and
// the other readers go on.
export async function wsBadFrames(server, carrier) {
	const page = `/${carrier}/frames`;
	const url = server.wsUrl(carrier);
	const origin = server.origin;
	const good = server.wsReader({ carrier, page });
	await allSeeAll([good], page, 1);
	const hello = (visitor) => JSON.stringify({ type: 'hello', page,
	    visitor });
	const big = 'x'.repeat(5000);
	const cases = [
		[1002, 'an unmasked frame', (r) => r.sendText(hello(newVisitor()),
		    { mask: false })],
		[1003, 'a binary message', (r) => r.sendFrame(0x2,
		    Buffer.from(hello(newVisitor())))],
		[1007, 'text that is not UTF-8', (r) => r.sendFrame(0x1,
		    Buffer.from([0x7b, 0x22, 0xc3, 0x28, 0x22, 0x7d]))],
		[1007, 'a UTF-8 sequence begun in one fragment, broken in the next', (r) => {
			r.sendFrame(0x1, Buffer.from([0x22, 0xe2, 0x82]),
			    { fin: false });
			r.sendFrame(0x0, Buffer.from([0x41, 0x22]));
		}],
		[1009, 'a 5000-byte message', (r) => r.sendText(big)],
		[1009, 'a 5000-byte message in three fragments', (r) => {
			r.sendFrame(0x1, big.slice(0, 2000), { fin: false });
			r.sendFrame(0x0, big.slice(2000, 4000), { fin: false });
			r.sendFrame(0x0, big.slice(4000));
		}],
		[1002, 'a reserved bit', (r) => r.sendText(hello(newVisitor()),
		    { rsv: 4 })],
		[1002, 'an unknown opcode', (r) => r.sendFrame(0x3,
		    Buffer.from('x'))],
		[1002, 'a fragmented ping', (r) => r.sendFrame(0x9,
		    Buffer.from('x'), { fin: false })],
		[1002, 'a 126-byte ping', (r) => r.sendFrame(0x9,
		    Buffer.alloc(126, 0x61))],
		[1002, 'a continuation with nothing to continue', (r) =>
		    r.sendFrame(0x0, Buffer.from('x'))],
	];
	const raws = [];
	for (const [code, what, act] of cases) {
		const r = await rawWs(url, { origin });
		act(r);
		raws.push({ code, what, r });
	}
	for (const { code, what, r } of raws) {
		const frame = await r.closedByServer();
		assert.ok(frame, `${carrier}, ${what}: a close frame ` +
		    `(got ${JSON.stringify(r.frames.map((f) => f.opcode))})`);
		assert.equal(frame.code, code, `${carrier}, ${what}: close code ` +
		    `(reason ${JSON.stringify(frame.reason)})`);
		assert.deepEqual(r.counts(), [], `${carrier}, ${what}: counted`);
		assert.deepEqual(r.violations, []);
		await waitFor(() => r.ended, 10000,
		    `${carrier}, ${what}: the connection to close`);
	}

	// Fragments with a ping between them are one message: this hello
	// counts (a two-byte character cut between two fragments is valid
	// UTF-8 all the same; unknown members are ignored), and the ping gets
	// its pong.
	const frag = await rawWs(url, { origin });
	const bytes = Buffer.from(JSON.stringify({ type: 'hello', page,
	    visitor: newVisitor('frag'), note: 'caf\u00e9' }));
	const cut = bytes.indexOf(0xc3) + 1;
	frag.sendFrame(0x1, bytes.subarray(0, 10), { fin: false });
	frag.sendFrame(0x9, Buffer.from('between'));
	frag.sendFrame(0x0, bytes.subarray(10, cut), { fin: false });
	frag.sendFrame(0x0, bytes.subarray(cut));
	await waitFor(() => frag.counts(page).some((c) => c.readers === 2),
	    10000, 'the fragmented hello to count',
	    () => JSON.stringify(frag.lines()));
	const pong = frag.frames.find((f) => f.opcode === 0xa);
	assert.equal(pong?.payload.toString(), 'between', 'the pong');
	assert.ok(frag.acceptOk, 'Sec-WebSocket-Accept');
	await waitFor(() => good.readers() === 2, 10000, 'the good reader at 2');
	frag.destroy();
	await waitFor(() => good.readers() === 1, 10000,
	    'the good reader back at 1', () => wsSummary([good]));
	assert.equal(good.closed, false, 'the good reader lost its stream');
	good.close();
}

// The handshake refused before any upgrade: a foreign Origin gets 403 with
// a JSON error (herenow's own check), and nothing is stored.
export async function wsRefusedOrigin(server, carrier) {
	const page = `/${carrier}/origin`;
	const r = server.wsReader({ carrier, page, origin: refusedOrigin });
	await waitFor(() => r.refused || r.opened, 10000, 'an answer');
	assert.equal(r.opened, false, 'a foreign origin was let in');
	assert.equal(r.refused.status, 403, r.refused.body);
	assert.match(r.refused.type || '', /^application\/json/);
	assert.equal(r.refused.json?.type, 'error', r.refused.body);
	assert.equal(typeof r.refused.json?.code, 'string', r.refused.body);
	assert.deepEqual(await liveSessions(server, r.visitor), []);
	// Every allowed origin gets in.
	for (const origin of server.config.origins.split(' ')) {
		const ok = server.wsReader({ carrier, page, origin });
		await ok.waitOpen();
		await waitFor(() => ok.readers() >= 1, 10000,
		    `${origin} to be let in and counted`);
		ok.close();
	}
}

// Pings: a reader who answers stays; one who does not is dropped after two
// unanswered pings, and leaves the count.
export async function wsPing(server, carrier) {
	const every = ms(server.config.ws_ping);
	const grace = ms(server.config.leave_grace);
	const page = `/${carrier}/ping`;
	const good = server.wsReader({ carrier, page });
	const deaf = await rawWs(server.wsUrl(carrier), { origin: server.origin,
	    autoPong: false });
	deaf.sendText(JSON.stringify({ type: 'hello', page,
	    visitor: newVisitor('deaf') }));
	await allSeeAll([good], page, 2);
	const t0 = Date.now();
	await waitFor(() => deaf.ended || deaf.closeFrame, 4 * every + 5000,
	    'the reader who never answers pings to be dropped',
	    () => `${deaf.pings} pings`);
	assert.ok(deaf.pings >= 2, `dropped after ${deaf.pings} pings`);
	assert.ok(Date.now() - t0 >= every, 'dropped before any ping');
	await waitFor(() => good.readers() === 1, grace + 5000,
	    'the count to drop', () => wsSummary([good]));
	// The reader who answers is still there after several pings.
	await holdFor(() => assert.equal(good.closed, false,
	    'the reader who answers pings was dropped'), 2 * every);
	assert.equal(good.readers(), 1);
	good.close();
	deaf.destroy();
}

// ---- Headless Chromium, for the widget (www/herenow.js) ---------------------
// Debian's chromium driven by playwright-core; no browser is ever
// downloaded.  playwright-core gives every launch a fresh temporary profile
// of its own (it refuses --user-data-dir among the arguments, and a
// persistent profile would allow one browser context only, while each
// context here is one visitor: its own localStorage, so its own id).

export const chromiumPath = '/usr/bin/chromium';
export const chromiumArgs = ['--headless', '--no-sandbox', '--disable-gpu',
	'--disable-quic', '--no-first-run', '--disable-background-networking',
	'--disable-component-update', '--disable-sync'];

export async function launchChromium() {
	if (!fs.existsSync(chromiumPath))
		throw new Error(`no ${chromiumPath}: apt-get install chromium ` +
		    '(tests/lib.sh does)');
	const { chromium } = await import('playwright-core');
	return chromium.launch({ executablePath: chromiumPath,
	    args: chromiumArgs, headless: true, timeout: 60000 });
}

// Runs in every page before its own scripts: keeps each count the widget
// got (its herenow:count events) with the time, for "never lower" checks.
function countRecorder() {
	window.__herenowCounts = [];
	document.addEventListener('herenow:count', (e) => {
		window.__herenowCounts.push({ at: Date.now(), ...e.detail });
	});
}

// One browser tab with the widget: what it shows, which transport it took
// (the data-transport attribute herenow.js sets on its script tag), the
// counts it got, and the page's uncaught errors.
export class Tab {
	constructor(page) {
		this.page = page;
		this.errors = [];		// uncaught exceptions in the page
		this.console = [];		// console messages, for diagnostics
		page.on('pageerror', (err) => this.errors.push(err.message));
		page.on('console', (m) => this.console.push(`${m.type()}: ${m.text()}`));
	}

	// A new page in context (one visitor), opened at url.
	static async open(context, url) {
		const page = await context.newPage();
		await page.addInitScript(countRecorder);
		const tab = new Tab(page);
		if (url)
			await page.goto(url);
		return tab;
	}

	// textContent of the first element matching selector ('' if none).
	async text(selector) {
		return (await this.page.textContent(selector, { timeout: 2000 })) ??
		    '';
	}

	async hidden(selector) {
		return this.page.$eval(selector, (el) => el.hidden);
	}

	async transport() {
		return this.page.getAttribute('script[src*="herenow.js"]',
		    'data-transport', { timeout: 2000 });
	}

	// Counts for page (every page when undefined) received since time t.
	async counts(page, t = 0) {
		const all = await this.page.evaluate(() => window.__herenowCounts);
		return all.filter((c) => c.at >= t &&
		    (page === undefined || c.page === page));
	}

	// Every [data-herenow] and [data-herenow-page] element's text, the
	// transport and the last counts: what a failed wait reports.
	async describe() {
		try {
			const shown = await this.page.$$eval(
			    '[data-herenow],[data-herenow-page]', (els) => els.map((el) =>
				`${el.getAttribute('data-herenow-page') || '.'}` +
				`[${el.getAttribute('data-herenow') || 'readers'}]=` +
				JSON.stringify(el.hidden ? '(hidden)' : el.textContent)));
			const counts = (await this.counts()).slice(-3).map((c) =>
			    `${c.page}:${c.readers}/${c.tabs}/${c.site}`);
			return `${this.page.url()} via ${await this.transport()}: ` +
			    `${shown.join(' ')}; last counts ${counts.join(' ')}` +
			    (this.errors.length ? `; errors ${this.errors}` : '');
		} catch (err) {
			return `${this.page.url()}: ${err.message}`;
		}
	}

	// Waits until selector's text is expected (a string or a RegExp).
	async shows(selector, expected, deadlineMs, what) {
		const ok = (s) => expected instanceof RegExp ? expected.test(s) :
		    s === expected;
		await waitFor(async () => ok(await this.text(selector)), deadlineMs,
		    what || `${selector} to show ${expected}`, () => this.describe());
	}

	close() {
		return this.page.close();
	}
}

// Several tabs' states on one line, for a failed wait's message.
export async function tabsSummary(tabs) {
	const out = [];
	for (const t of tabs)
		out.push(await t.describe());
	return '\n    ' + out.join('\n    ');
}

// Registers the scenarios every WebSocket carrier shares, with test (from
// node:test) and a getter for the server its file starts in before().
// frames: herenow sees the frames itself (not on the tunnel), so malformed
// frames, origins and pings are its to check too.
export function wsScenarios(test, server, carrier, { frames = true } = {}) {
	const t = (name, fn) => test(name, { timeout: 60000 },
	    () => fn(server(), carrier));
	t('join and count', wsJoinCount);
	t('navigate: a page message moves the reader at once', wsNavigate);
	t('watch: counts of other pages without being counted there', wsWatch);
	t('leave: announced after leave_grace', wsLeave);
	t('reload: the same visitor back within leave_grace changes nothing',
	    wsReload);
	if (!frames) {
		t('bad messages: an error line, the stream ends, nothing stored',
		    wsBadMessages);
		return;
	}
	t('bad messages: an error line, close 1008 with the code, nothing stored',
	    wsBadMessages);
	t('malformed frames are closed with 1002, 1003, 1007, 1009',
	    wsBadFrames);
	t('another origin gets 403 with a JSON error before any upgrade',
	    wsRefusedOrigin);
	t('pings: a reader who misses two is dropped', wsPing);
}
