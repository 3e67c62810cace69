// The owner's view (README "The owner's view", DESIGN §5): stats behind
// admin_token, health, `herenow top` reading the database directly, and
// www/dashboard.html in headless Chromium, after a scripted load of SSE and
// WebSocket (mod_wstunnel) readers on three pages plus two watch-only
// streams, which must not count.  Last, lighttpd and herenow are restarted
// on the same database and the peaks must still be there.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
	startServer, launchChromium, Tab, waitFor, herenowBin, cleanEnv,
	newVisitor,
} from './harness.mjs';

const execFileP = promisify(execFile);

// Shaped like `openssl rand -base64`: '+' and '/' must survive ?token=.
const TOKEN = 'Ab3+x/Yz9Q-owner_T0ken';
const config = { admin_token: TOKEN };

const PA = '/post/one-reader-two-tabs.html';
const PB = '/post/a-reload-changes-nothing.html';
// A key to be shown as text, and escaped in a watch list (comma, space).
const PC = '/notes/caf\u00e9, tea & <b>';

// What the load leaves (a3 came and went: the peaks stay).
const want = {
	[PA]: { readers: 2, tabs: 3, peak: 3 },
	[PB]: { readers: 2, tabs: 2, peak: 2 },
	[PC]: { readers: 1, tabs: 1, peak: 1 },
};
const SITE = 5, SITE_PEAK = 6, SESSIONS = 6;

const base = process.env.HERENOW_TEST_DIR || os.tmpdir();
const outDir = process.env.HERENOW_TEST_DIR ||
    fs.mkdtempSync(path.join(os.tmpdir(), 'herenow-owner-'));

let server, off, restarted, browser, dbDir, db;
let watchers = [];
// When the peaks were made: [from, to] in ms.
const when = {};

async function count(srv, page) {
	const res = await fetch(srv.url(`/herenow/count?page=${
	    encodeURIComponent(page)}`));
	assert.equal(res.status, 200, `count ${page}`);
	return res.json();
}

// Until count answers readers/tabs for each page and the site.
async function settle(srv, pages, site, what) {
	let last = '';
	await waitFor(async () => {
		const got = [];
		let ok = true;
		for (const [p, [readers, tabs]] of Object.entries(pages)) {
			const c = await count(srv, p);
			got.push(`${p}:${c.readers}/${c.tabs}/${c.site}`);
			ok &&= c.readers === readers && c.tabs === tabs &&
			    c.site === site;
		}
		last = got.join(' ');
		return ok;
	}, 10000, what, () => last);
}

// GET stats: how = 'bearer' | 'query' | 'none'; more: other parameters.
async function stats(srv, { token = TOKEN, how = 'bearer', more = {} } = {}) {
	const q = new URLSearchParams(more);
	if (how === 'query')
		q.set('token', token);
	const headers = how === 'bearer' ? { Authorization: `Bearer ${token}` } :
	    {};
	const res = await fetch(srv.url(`/herenow/stats${q.size ? `?${q}` : ''}`),
	    { headers, signal: AbortSignal.timeout(5000) });
	const body = await res.text();
	let json;
	try {
		json = JSON.parse(body);
	} catch {
		json = undefined;
	}
	return { status: res.status, headers: res.headers, body, json };
}

async function okStats(srv, opts) {
	const r = await stats(srv, opts);
	assert.equal(r.status, 200, r.body);
	assert.equal(r.json?.type, 'stats', r.body);
	return r.json;
}

function byPage(s) {
	return Object.fromEntries(s.pages.map((p) => [p.page, p]));
}

function within(t, [from, to], what) {
	assert.equal(typeof t, 'number', `${what}: ${t}`);
	assert.ok(t >= from - 1000 && t <= to + 1000,
	    `${what} ${t} not within [${from}, ${to}]`);
}

before(async () => {
	dbDir = fs.mkdtempSync(path.join(base, 'owner-db-'));
	db = path.join(dbDir, 'herenow.db');
	// The tunnel for WebSocket readers; a second server with no token.
	[server, off, browser] = await Promise.all([
		startServer({ name: 'owner', tunnel: 'spawn', db, config }),
		startServer({ name: 'owner-off' }),
		launchChromium(),
	]);

	// a1 has two tabs (SSE and WebSocket); a3 comes last and goes.
	const a1 = newVisitor('a1');
	const t0 = Date.now();
	server.reader({ page: PA, visitor: a1 });
	server.wsReader({ carrier: 'wst', page: PA, visitor: a1 });
	server.wsReader({ carrier: 'wst', page: PA });
	server.reader({ page: PB });
	server.wsReader({ carrier: 'wst', page: PB });
	server.wsReader({ carrier: 'wst', page: PC });
	// Watch-only, no page and no visitor: not readers.
	watchers = [server.reader({ visitor: null, watch: [PA, PB, PC] }),
	    server.wsReader({ carrier: 'wst', visitor: null,
		watch: [PA, PB, PC] })];
	await settle(server, { [PA]: [2, 3], [PB]: [2, 2], [PC]: [1, 1] }, 5,
	    'the first five readers');
	when.early = [t0, Date.now()];
	const t1 = Date.now();
	const a3 = server.reader({ page: PA });
	await settle(server, { [PA]: [3, 4] }, 6, 'a third reader of PA');
	when.peak = [t1, Date.now()];
	a3.close();
	await settle(server, { [PA]: [2, 3], [PB]: [2, 2], [PC]: [1, 1] },
	    SITE, 'a3 gone');
	// Ended sessions are deleted after leave_grace.
	await waitFor(async () => (await server.sql(
	    'SELECT count(*) AS n FROM sessions'))[0].n === SESSIONS, 10000,
	    `${SESSIONS} sessions in the table`);
	when.settled = Date.now();
});

after(async () => {
	await browser?.close();
	await Promise.all([server?.stop(), off?.stop(), restarted?.stop()]);
	if (dbDir && !process.env.HERENOW_TEST_DIR)
		fs.rmSync(dbDir, { recursive: true, force: true });
});

test('stats needs the admin token: 401 without, 403 wrong, bearer or query; 404 stats_off when none is configured',
    { timeout: 30000 }, async () => {
	for (const opts of [{ how: 'none' }, { how: 'bearer' }, { how: 'query' }]) {
		const r = await stats(off, opts);
		assert.equal(r.status, 404, `no admin_token, ${opts.how}: ${r.body}`);
		assert.equal(r.json?.type, 'error', r.body);
		assert.equal(r.json?.code, 'stats_off', r.body);
		assert.equal(typeof r.json?.message, 'string');
	}

	const none = await stats(server, { how: 'none' });
	assert.equal(none.status, 401, none.body);
	assert.equal(none.json?.code, 'token_required', none.body);
	assert.match(none.headers.get('www-authenticate') || '', /^Bearer\b/,
	    'WWW-Authenticate');
	assert.match(none.headers.get('content-type') || '', /json/);

	const wrong = ['nope', TOKEN.slice(0, -1), `${TOKEN}x`,
	    TOKEN.toLowerCase()];
	for (const token of wrong) {
		for (const how of ['bearer', 'query']) {
			const r = await stats(server, { token, how });
			assert.equal(r.status, 403, `${how} ${token}: ${r.body}`);
			assert.equal(r.json?.type, 'error', r.body);
			assert.equal(r.json?.code, 'bad_token', `${how} ${token}`);
			assert.ok(!('pages' in (r.json || {})), r.body);
		}
	}

	for (const how of ['bearer', 'query']) {
		const r = await stats(server, { how });
		assert.equal(r.status, 200, `${how}: ${r.body}`);
		assert.equal(r.json?.type, 'stats');
		assert.match(r.headers.get('cache-control') || '', /no-store/);
		assert.match(r.headers.get('content-type') || '', /json/);
	}
});

test('after a scripted load stats gives readers, tabs, site and peaks; watch-only streams count nowhere; health',
    { timeout: 30000 }, async (t) => {
	const s = await okStats(server);
	assert.ok(Math.abs(s.now - Date.now()) < 5000, `now ${s.now}`);
	assert.equal(s.site, SITE, 'site');
	assert.equal(s.site_peak, SITE_PEAK, 'site_peak');
	within(s.site_peak_at, when.peak, 'site_peak_at');
	assert.equal(s.sessions, SESSIONS, 'sessions');
	const procs = server.children().length +
	    server.childrenOf('tunnel').length;
	assert.equal(s.owners, procs, `owners (${procs} herenow processes)`);

	// Busiest first: readers, then peak (PA and PB both have 2).
	assert.deepEqual(s.pages.map((p) => p.page), [PA, PB, PC]);
	for (const p of s.pages) {
		const w = want[p.page];
		assert.deepEqual({ readers: p.readers, tabs: p.tabs, peak: p.peak },
		    w, p.page);
		within(p.peak_at, p.page === PA ? when.peak : when.early,
		    `${p.page} peak_at`);
	}

	for (const limit of [1, 2]) {
		const l = await okStats(server, { more: { limit } });
		assert.deepEqual(l.pages.map((p) => p.page), [PA, PB, PC]
		    .slice(0, limit), `limit=${limit}`);
	}
	assert.equal((await okStats(server, { more: { limit: 200 } })).pages
	    .length, 3, 'limit=200');
	// Past the bounds: refused, as any bad parameter.
	for (const limit of [0, 201, 'x']) {
		const r = await stats(server, { more: { limit } });
		assert.equal(r.status, 400, `limit=${limit}: ${r.body}`);
		assert.equal(r.json?.code, 'bad_limit', r.body);
	}

	// Samples: a minute each, oldest first, within the last day.
	assert.ok(Array.isArray(s.samples), 'samples');
	let prev = -Infinity;
	for (const m of s.samples) {
		assert.ok(m.t > prev, `samples out of order at ${m.t}`);
		prev = m.t;
		assert.ok(m.t >= s.now - 864e5 - 6e4 && m.t <= s.now,
		    `sample at ${m.t}, now ${s.now}`);
		assert.ok(Number.isInteger(m.site) && m.site >= 0, `site ${m.site}`);
		assert.ok(Array.isArray(m.top) && m.top.length <= 5,
		    JSON.stringify(m));
		for (const [i, e] of m.top.entries()) {
			assert.equal(typeof e[0], 'string', JSON.stringify(m));
			assert.ok(Number.isInteger(e[1]), JSON.stringify(m));
			if (i)
				assert.ok(e[1] <= m.top[i - 1][1], JSON.stringify(m));
		}
	}
	// A minute begun after the load settled saw only the settled state.
	for (const m of s.samples.filter((x) => x.t >= when.settled)) {
		assert.equal(m.site, SITE, JSON.stringify(m));
		assert.deepEqual(m.top, [[PA, 2], [PB, 2], [PC, 1]]);
	}
	t.diagnostic(`${s.samples.length} samples; the last: ${
	    JSON.stringify(s.samples[s.samples.length - 1])}`);
	const future = await okStats(server, { more: { since: s.now + 1 } });
	assert.deepEqual(future.samples, [], 'since after now');
	if (s.samples.length) {
		const last = s.samples[s.samples.length - 1].t;
		const since = await okStats(server, { more: { since: last } });
		assert.ok(since.samples.length >= 1 && since.samples.every((m) =>
		    m.t >= last), `since=${last}: ${JSON.stringify(since.samples)}`);
	}

	// The watchers were told every count, and are in no count.
	for (const w of watchers) {
		await waitFor(() => Object.entries(want).every(([p, v]) =>
		    w.count(p)?.readers === v.readers && w.count(p)?.tabs === v.tabs),
		    5000, 'a watcher to see every page');
	}
	assert.deepEqual(await server.sql('SELECT page FROM sessions WHERE ' +
	    `page NOT IN ('${PA}', '${PB}', '${PC.replace(/'/g, "''")}')`), []);

	const res = await fetch(server.url('/herenow/health'));
	assert.equal(res.status, 200);
	const h = await res.json();
	assert.equal(h.status, 'ok');
	assert.equal(h.db, 'ok');
	assert.equal(h.writable, true);
	assert.equal(h.owners, procs, 'health owners');
	assert.equal(typeof h.version, 'string');
	assert.ok(h.version.length > 0);
	assert.ok(Number.isInteger(h.pid) && h.pid > 0);
});

// herenow top's lines: the first (the site), then a line per page.
function topLines(out) {
	assert.ok(!out.includes('\x1b'), 'escape codes with --once');
	const lines = out.split('\n').filter((l) => l.trim() !== '');
	assert.match(lines[0] || '', /site/i, out);
	assert.match(lines[0], new RegExp(`\\b${SITE}\\b`), `site total: ${out}`);
	const at = {};
	for (const p of Object.keys(want)) {
		const i = lines.findIndex((l, k) => k > 0 && l.includes(p));
		assert.ok(i > 0, `no line for ${p}:\n${out}`);
		// Readers, then tabs, then the key.
		const nums = lines[i].replace(p, ' ').match(/\d+/g) || [];
		assert.deepEqual(nums.slice(0, 2).map(Number),
		    [want[p].readers, want[p].tabs], `${p}: ${lines[i]}`);
		at[p] = i;
	}
	assert.ok(at[PA] < at[PB] && at[PB] < at[PC], `busiest first:\n${out}`);
}

test('herenow top --once prints the site and the busiest pages from the database, while herenow serves',
    { timeout: 30000 }, async (t) => {
	const run = (args) => execFileP(herenowBin, ['top', '--once', ...args],
	    { env: cleanEnv(), timeout: 10000 });
	const byDb = await run(['--db', db]);
	t.diagnostic(`herenow top --once --db:\n${byDb.stdout}`);
	topLines(byDb.stdout);
	// The database named by a configuration file.
	topLines((await run(['--config', server.confFile])).stdout);

	// Without --once: a screen a second, until Ctrl-C.
	const top = spawn(herenowBin, ['top', '--db', db],
	    { env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
	let out = '', exited = null;
	top.stdout.on('data', (d) => { out += d; });
	top.stderr.on('data', (d) => { out += d; });
	top.on('exit', (code, signal) => { exited = signal || code; });
	try {
		await waitFor(() => (out.match(/site/gi) || []).length >= 3, 5000,
		    'three screens from herenow top', () => JSON.stringify(out));
		assert.equal(exited, null, 'herenow top ended by itself');
		assert.match(out, new RegExp(PA.replace(/[.]/g, '\\.')));
		top.kill('SIGINT');
		await waitFor(() => exited !== null, 3000, 'herenow top to end');
	} finally {
		if (exited === null)
			top.kill('SIGKILL');
	}
});

// A day of made-up minutes before herenow's own samples, added to the
// first stats answer by the browser's route, so that the charts have a
// day to draw (this server is seconds old); an hour of it is missing, as
// when herenow was not running.  The table stays herenow's.
async function dayOfSamples(context) {
	await context.route(/\/herenow\/stats\?/, async (route) => {
		const res = await route.fetch();
		let body = await res.text();
		if (res.status() === 200 &&
		    !new URL(route.request().url()).searchParams.has('since')) {
			const j = JSON.parse(body);
			const end = Math.min(j.samples[0]?.t ?? j.now, j.now - 3e5);
			const made = [];
			for (let t = Math.ceil((j.now - 864e5) / 6e4) * 6e4 + 6e4;
			    t < end; t += 6e4) {
				const ago = (j.now - t) / 36e5;
				if (ago > 9 && ago < 10)
					continue;
				const site = Math.max(0, Math.round(4 + 3 *
				    Math.sin(t / 864e5 * 2 * Math.PI) +
				    Math.sin(t / 83e5 * 2 * Math.PI)));
				made.push({ t, site, top: site ? [[PA, Math.ceil(site / 2)],
				    [PB, Math.floor(site / 2)]] : [] });
			}
			j.samples = made.concat(j.samples);
			body = JSON.stringify(j);
		}
		await route.fulfill({ response: res, body });
	});
}

// The table as shown: one object per row, in order.
function shownRows(page) {
	return page.$$eval('#pages tbody tr', (trs) => trs.map((tr) => ({
		page: tr.getAttribute('data-page'),
		text: tr.querySelector('td.page').textContent,
		readers: tr.querySelector('td.readers').textContent,
		tabs: tr.querySelector('td.tabs').textContent,
		peak: tr.querySelector('td.peak').textContent,
		t: tr.querySelector('td.when').getAttribute('data-t'),
	})));
}

async function rowsAre(page, expect, deadlineMs, what) {
	let last;
	await waitFor(async () => {
		last = await shownRows(page);
		return JSON.stringify(last.map((r) => [r.page, r.readers, r.tabs,
		    r.peak])) === JSON.stringify(expect);
	}, deadlineMs, what, async () => JSON.stringify(last) + ' status: ' +
	    await page.textContent('#status').catch(() => '?'));
}

test('the dashboard: token once, the busiest pages live over a watch, charts, a phone',
    { timeout: 60000 }, async (t) => {
	const expect = (pages) => pages.map((p) => [p, String(want[p].readers),
	    String(want[p].tabs), String(want[p].peak)]);
	// Stats every 60 s here: what changes sooner came over the watch.
	const url = server.url('/dashboard.html?poll=60');
	const ctx = await browser.newContext({ viewport: { width: 1100,
	    height: 900 } });
	await dayOfSamples(ctx);
	const tab = await Tab.open(ctx);
	const asked = [];
	tab.page.on('request', (req) => {
		if (req.url().includes('/herenow/stats'))
			asked.push({ at: Date.now(), url: req.url(),
			    auth: req.headers().authorization });
	});
	await tab.page.goto(url);

	// A wrong token is refused and not kept.
	await tab.page.waitForSelector('#login:not([hidden])', { timeout: 5000 });
	await tab.page.fill('#token', 'not-the-token');
	await tab.page.click('#login button[type=submit]');
	await waitFor(async () => /bad_token/.test(
	    await tab.page.textContent('#login-error')), 5000,
	    'the wrong token to be refused');
	assert.equal(await tab.page.evaluate(() =>
	    localStorage.getItem('herenow.dashboard.token')), null);

	await tab.page.fill('#token', TOKEN);
	await tab.page.click('#login button[type=submit]');
	await rowsAre(tab.page, expect([PA, PB, PC]), 10000, 'the three pages');
	const s = byPage(await okStats(server));
	const rows = await shownRows(tab.page);
	for (const r of rows) {
		assert.equal(r.text, r.page, 'the key shown as text');
		assert.equal(Number(r.t), s[r.page].peak_at, `${r.page} peak_at`);
	}
	assert.equal(await tab.page.textContent('#site'), String(SITE));
	assert.equal(await tab.page.isHidden('#login'), true);
	assert.equal(await tab.page.evaluate(() =>
	    localStorage.getItem('herenow.dashboard.token')), TOKEN);
	// The token goes in the header, never in a URL.
	assert.ok(asked.length > 0);
	for (const a of asked) {
		assert.ok(!/token/i.test(a.url), a.url);
		assert.equal(a.auth, a === asked[0] ? 'Bearer not-the-token' :
		    `Bearer ${TOKEN}`);
	}

	// The watch: WebSocket through the tunnel (ws answers 400 here),
	// and it is no reader.
	await waitFor(() => tab.page.getAttribute('html', 'data-transport'),
	    10000, 'the dashboard\'s watch stream');
	assert.equal(await tab.page.getAttribute('html', 'data-transport'),
	    'wst');
	assert.equal((await count(server, PA)).site, SITE);
	assert.equal((await server.sql(
	    'SELECT count(*) AS n FROM sessions'))[0].n, SESSIONS);

	// A new reader of PC shows within 3 s, with no stats asked meanwhile:
	// PC's 2 readers and peak 2 put it before PB (tie, then the key).
	const t0 = Date.now();
	const n0 = asked.length;
	const extra = server.reader({ page: PC });
	want[PC] = { readers: 2, tabs: 2, peak: 2 };
	await rowsAre(tab.page, expect([PA, PC, PB]), 3000,
	    'the new reader of PC live');
	assert.equal(await tab.page.textContent('#site'), String(SITE + 1));
	assert.equal(asked.length, n0, 'stats were asked: not a live update');
	t.diagnostic(`live in ${Date.now() - t0} ms`);
	extra.close();
	want[PC] = { readers: 1, tabs: 1, peak: 2 };
	await rowsAre(tab.page, expect([PA, PB, PC]), 5000,
	    'PC back at 1, its peak 2');
	assert.equal(await tab.page.textContent('#site'), String(SITE));

	// The charts: a day, and its last hour.
	const points = async (id) => Number(await tab.page.getAttribute(id,
	    'data-points'));
	const day = await points('#chart-day'), hour = await points('#chart-hour');
	assert.ok(day > 1300, `day chart: ${day} points`);
	assert.ok(hour >= 55 && hour <= 62, `hour chart: ${hour} points`);
	await tab.page.hover('#chart-day');
	assert.match(await tab.page.textContent('#day-readout'), /\d+ readers?/);
	await tab.page.mouse.move(0, 0);
	const desk = path.join(outDir, 'dashboard.png');
	await tab.page.screenshot({ path: desk, fullPage: true,
	    animations: 'disabled' });

	// Entered once: a reload goes straight to the table.
	await tab.page.reload();
	await rowsAre(tab.page, expect([PA, PB, PC]), 10000, 'after a reload');
	assert.equal(await tab.page.isHidden('#login'), true);
	assert.deepEqual(tab.errors, []);

	// A phone, 390 px wide: nothing wider than the screen.  Its browser
	// refuses WebSocket, so the watch is an SSE stream (a watch list
	// with PC's comma in it), live too.
	const phone = await browser.newContext({ viewport: { width: 390,
	    height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
	await dayOfSamples(phone);
	await phone.routeWebSocket(/\/herenow\/wst?$/, (ws) => ws.close());
	await phone.addInitScript((tok) => {
		try {
			localStorage.setItem('herenow.dashboard.token', tok);
		} catch { /* about:blank */ }
	}, TOKEN);
	const ph = await Tab.open(phone, server.url('/dashboard.html?poll=60'));
	await rowsAre(ph.page, expect([PA, PB, PC]), 10000, 'the phone\'s table');
	await waitFor(() => ph.page.getAttribute('html', 'data-transport'),
	    10000, 'the phone\'s watch stream');
	assert.equal(await ph.page.getAttribute('html', 'data-transport'), 'sse');
	const extra2 = server.reader({ page: PC });
	want[PC] = { readers: 2, tabs: 2, peak: 2 };
	await rowsAre(ph.page, expect([PA, PC, PB]), 3000,
	    'the phone: a new reader of PC live over SSE');
	extra2.close();
	want[PC] = { readers: 1, tabs: 1, peak: 2 };
	await rowsAre(ph.page, expect([PA, PB, PC]), 5000,
	    'the phone: PC back at 1');
	assert.equal((await count(server, PA)).site, SITE,
	    'the dashboards are no readers');
	const wide = await ph.page.evaluate(() => {
		const out = [document.documentElement.scrollWidth];
		for (const e of document.querySelectorAll('tr, svg, header, form'))
			out.push(Math.ceil(e.getBoundingClientRect().right));
		return Math.max(...out);
	});
	assert.ok(wide <= 390, `${wide} px wide on a 390 px screen`);
	const mobile = path.join(outDir, 'dashboard-phone.png');
	await ph.page.screenshot({ path: mobile, fullPage: true,
	    animations: 'disabled' });
	assert.deepEqual(ph.errors, []);
	for (const f of [desk, mobile])
		assert.ok(fs.statSync(f).size > 5000, f);
	t.diagnostic(`screenshots: ${desk} ${mobile}`);
	await ctx.close();
	await phone.close();

	// Where no admin_token is configured the dashboard says so.
	const offCtx = await browser.newContext();
	const o = await Tab.open(offCtx, off.url('/dashboard.html'));
	await o.page.fill('#token', TOKEN);
	await o.page.click('#login button[type=submit]');
	await waitFor(async () => await o.page.getAttribute('#status',
	    'data-state') === 'off', 5000, 'the dashboard to say stats are off');
	assert.match(await o.page.textContent('#status'), /admin_token/);
	assert.deepEqual(o.errors, []);
	await offCtx.close();
});

test('peaks (and samples) survive a restart of lighttpd and herenow on the same database',
    { timeout: 30000 }, async () => {
	const pre = await okStats(server);
	await server.stop();
	server = null;
	restarted = await startServer({ name: 'owner-restart', db, config });
	const post = await okStats(restarted);
	assert.equal(post.site, 0);
	assert.equal(post.site_peak, pre.site_peak);
	assert.equal(post.site_peak_at, pre.site_peak_at);
	assert.equal(pre.site_peak, SITE_PEAK);
	// Nobody reads now: by peak, then the key.
	assert.deepEqual(post.pages.map((p) => p.page), Object.keys(want)
	    .sort((x, y) => want[y].peak - want[x].peak || (x < y ? -1 : 1)));
	const was = byPage(pre);
	for (const p of post.pages) {
		assert.equal(p.readers, 0, p.page);
		assert.equal(p.tabs, 0, p.page);
		assert.equal(p.peak, want[p.page].peak, `${p.page} peak`);
		assert.equal(p.peak_at, was[p.page].peak_at, `${p.page} peak_at`);
	}
	const kept = new Set(post.samples.map((m) => m.t));
	for (const m of pre.samples)
		assert.ok(kept.has(m.t), `sample ${m.t} lost in the restart`);
});
