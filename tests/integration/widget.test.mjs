// The embed, www/herenow.js, on the demo blog in www/, in headless Chromium
// (Debian's chromium through playwright-core) against lighttpd 1.4.69 and
// herenow.  Each browser context is one visitor (its own localStorage and
// so its own id): "2 readers" takes two contexts, while two tabs of one
// context are one reader and 2 tabs.  On this lighttpd /herenow/ws answers
// 400 (no FastCGI upgrade before 1.4.74), so the widget's WebSocket is the
// mod_wstunnel one, /herenow/wst; herenow's own (ws) is reached through
// fcgi-upgrade-proxy.mjs, the stand-in for 1.4.74.  The tests refuse
// WebSocket and SSE in the browser (routes) to drive the widget down to
// SSE and beats.

import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import {
	startServer, launchChromium, Tab, tabsSummary, waitFor, ms,
	liveSessions, repo,
} from './harness.mjs';

// A short leave_grace, so that "closed" shows within 3 s; beats live
// stale_after, long enough to tell a leave from a reaped beat.
const config = { leave_grace: '1s', stale_after: '10s' };
const grace = ms(config.leave_grace);

const P1 = '/post/one-reader-two-tabs.html';
const P2 = '/post/a-reload-changes-nothing.html';
const P3 = '/post/when-websockets-fail.html';

// What the posts show (www/post/*.html).
const READERS = 'main .live > [data-herenow=""]';
const TABS = 'main [data-herenow="tabs"]';
const SITE = 'header [data-herenow="site"]';
const reading = (n) => n === 1 ? '1 person is reading this now' :
    `${n} people are reading this now`;
// The index's count beside a post (www/index.html).
const beside = (post) => `.posts [data-herenow-page="${post}"]`;
const listed = (n) => n === 1 ? '1 reading now' : `${n} reading now`;

// Where screenshots stay: the test output directory of tests/run.sh.
const outDir = process.env.HERENOW_TEST_DIR ||
    fs.mkdtempSync(path.join(os.tmpdir(), 'herenow-widget-'));

let server, browser;
const contexts = new Set();
const tabs = new Set();

before(async () => {
	// tunnel: mod_wstunnel as lighttpd-herenow.conf sets it up; upgrade:
	// the stand-in for lighttpd >= 1.4.74 (fcgi-upgrade-proxy.mjs) beside
	// it, on the same database.
	server = await startServer({ name: 'widget', tunnel: 'spawn',
	    upgrade: true, config });
	browser = await launchChromium();
});

after(async () => {
	await browser?.close();
	await server?.stop();
});

// Every tab closed as a person closes it (pagehide runs), every visitor
// gone from the counts before the next test; no uncaught error in a page.
afterEach(async () => {
	const errors = [...tabs].flatMap((t) => t.errors.map((e) =>
	    `${t.page.url()}: ${e}`));
	for (const t of tabs)
		await t.close().catch(() => {});
	tabs.clear();
	for (const c of contexts)
		await c.close().catch(() => {});
	contexts.clear();
	await waitFor(async () => (await count('/')).site === 0, 15000,
	    'every visitor to be gone', async () => JSON.stringify(
		await server.sql('SELECT page, visitor, ended, beat FROM sessions')));
	assert.deepEqual(errors, [], 'uncaught errors in the pages');
});

async function visitor(opts) {
	const c = await browser.newContext(opts);
	contexts.add(c);
	return c;
}

async function open(context, page) {
	const t = await Tab.open(context, page && server.url(page));
	tabs.add(t);
	return t;
}

async function count(page) {
	const res = await fetch(server.url(`/herenow/count?page=${
	    encodeURIComponent(page)}`));
	assert.equal(res.status, 200);
	return res.json();
}

// Each of tabs shows text at selector.
function allShow(list, selector, text, deadlineMs, what) {
	return waitFor(async () => {
		for (const t of list) {
			if (await t.text(selector) !== text)
				return false;
		}
		return true;
	}, deadlineMs, what || `${list.length} tabs to show "${text}"`,
	    () => tabsSummary(list));
}

// The browser refuses WebSocket (both /herenow/ws and /herenow/wst: the
// route closes the socket before any count) and, when sse is 'abort' or
// 'hang', the SSE stream; refused URLs are noted.
async function refuse(context, { sse = null } = {}) {
	const refused = [];
	await context.routeWebSocket(/\/herenow\/wst?$/, (ws) => {
		refused.push(new URL(ws.url()).pathname);
		ws.close();
	});
	if (sse) {
		await context.route(/\/herenow\/sse\?/, (route) => {
			refused.push('/herenow/sse');
			// 'hang': a buffering proxy that never sends a byte.
			if (sse === 'abort')
				return route.abort('connectionrefused');
			return undefined;
		});
	}
	return refused;
}

test('two readers on one post show 2 within 2 s; a second tab is 2 tabs of 1 reader; one closes and the other shows 1 within 3 s',
    { timeout: 60000 }, async () => {
	const ctxA = await visitor();
	const a = await open(ctxA, P1);
	await a.shows(READERS, reading(1), 10000);
	// The WebSocket through mod_wstunnel (/herenow/ws answers 400 here).
	assert.equal(await a.transport(), 'wst');

	const b = await open(await visitor());
	const t0 = Date.now();
	await b.page.goto(server.url(P1));
	await allShow([a, b], READERS, reading(2), 2000 - (Date.now() - t0),
	    'both readers to show 2 within 2 s');

	// Two tabs of one browser: one visitor, so still 2 readers, 3 tabs.
	const a2 = await open(ctxA, P1);
	await allShow([a, a2, b], TABS, '3 tabs', 5000);
	for (const t of [a, a2, b])
		assert.equal(await t.text(READERS), reading(2));
	await a2.close();
	await allShow([a, b], TABS, '2 tabs', grace + 5000);

	const t1 = Date.now();
	await b.close();
	await a.shows(READERS, reading(1), 3000,
	    'the reader left to show 1 within 3 s');
	assert.ok(Date.now() - t1 >= grace - 300,
	    'the count dropped before leave_grace');
	assert.equal(await a.text(TABS), '1 tab');
	assert.equal(await a.text(SITE), '1 person');
});

test('with WebSocket refused the count arrives over SSE, which is remembered for the tab',
    { timeout: 60000 }, async () => {
	const ctx = await visitor();
	const refused = await refuse(ctx);
	const s = await open(ctx, P2);
	const other = await open(await visitor(), P2);
	await allShow([s, other], READERS, reading(2), 10000);
	assert.equal(await s.transport(), 'sse');
	assert.equal(await other.transport(), 'wst');
	assert.deepEqual(refused, ['/herenow/ws', '/herenow/wst']);

	// A reload goes straight to SSE: no WebSocket tried again.
	refused.length = 0;
	await s.page.reload();
	await s.shows(READERS, reading(2), 5000);
	assert.equal(await s.transport(), 'sse');
	assert.deepEqual(refused, []);

	await s.close();
	await other.shows(READERS, reading(1), 3000,
	    'the SSE reader\'s leave within 3 s');
});

test('with WebSocket and SSE refused the count arrives over beats, an index watches over count, and a closed tab leaves at once (sendBeacon)',
    { timeout: 60000 }, async () => {
	const ctx = await visitor();
	const refused = await refuse(ctx, { sse: 'abort' });
	const beats = [];
	ctx.on('request', (req) => {
		if (/\/herenow\/(beat|leave|count)/.test(req.url()))
			beats.push(`${req.method()} ${new URL(req.url()).pathname}`);
	});
	const p = await open(ctx, P3);
	const other = await open(await visitor(), P3);
	await allShow([p, other], READERS, reading(2), 10000);
	assert.equal(await p.transport(), 'beat');
	assert.deepEqual(refused, ['/herenow/ws', '/herenow/wst',
	    '/herenow/sse']);
	assert.ok(beats.includes('POST /herenow/beat'), beats.join());

	// The index on beats: its own beat, and the watched posts' counts.
	const idx = await open(ctx, '/');
	await idx.shows(beside(P3), listed(2), 10000);
	assert.equal(await idx.transport(), 'beat');
	assert.ok(beats.includes('GET /herenow/count'), beats.join());
	await idx.close();

	// stale_after is 10 s: a session ended at once and a drop within 3 s
	// are the leave (a beacon, which the page's request log no longer
	// sees as the page goes), not the reaper.
	const id = await p.page.evaluate(() =>
	    localStorage.getItem('herenow.visitor'));
	await waitFor(async () => (await liveSessions(server, id)).join() === P3,
	    3000, `${id} live on ${P3} only (the index left)`);
	await p.close();
	await waitFor(async () => (await liveSessions(server, id)).length === 0,
	    1000, 'the beat session to end at once');
	await other.shows(READERS, reading(1), 3000,
	    'the beat reader\'s leave within 3 s');
});

test('an SSE stream with no first event within 5 s (a buffering proxy) falls back to beats',
    { timeout: 60000 }, async () => {
	const ctx = await visitor();
	const refused = await refuse(ctx, { sse: 'hang' });
	const other = await open(await visitor(), P1);
	await other.shows(READERS, reading(1), 10000);
	const t0 = Date.now();
	const p = await open(ctx, P1);
	await allShow([p, other], READERS, reading(2), 15000);
	const took = Date.now() - t0;
	assert.equal(await p.transport(), 'beat');
	assert.ok(refused.includes('/herenow/sse'), refused.join());
	assert.ok(took >= 4500, `beats after ${took} ms, before SSE's 5 s`);
});

test('a WebSocket that breaks after counting is opened again on the same transport, within the leave grace',
    { timeout: 60000 }, async () => {
	const ctx = await visitor();
	const opened = [];
	await ctx.routeWebSocket(/\/herenow\/wst$/, (ws) => {
		opened.push(ws);
		ws.connectToServer();
	});
	const a = await open(ctx, P3);
	const other = await open(await visitor(), P3);
	await allShow([a, other], READERS, reading(2), 10000);
	assert.equal(await a.transport(), 'wst');
	assert.equal(opened.length, 1);
	const t0 = Date.now();
	// The connection cut under the page (a network change, a proxy).
	opened[0].close({ code: 1006 });
	await waitFor(() => opened.length === 2, 5000,
	    'a new WebSocket to the tunnel');
	await allShow([a, other], READERS, reading(2), 5000);
	assert.equal(await a.transport(), 'wst');
	const seen = (await other.counts(P3, t0)).map((c) => c.readers);
	assert.deepEqual(seen.filter((n) => n < 2), [],
	    `the other tab saw ${JSON.stringify(seen)}`);
});

// A page that the browser was handed by a route has no address, so
// Chromium takes it for a public one and refuses its WebSockets to
// 127.0.0.1 (Local Network Access; fetch and SSE to the same origin are
// let through): the permission a person would give it, granted.
async function localNetwork(context, origin) {
	await context.grantPermissions(['local-network-access'], { origin });
}

// The stand-in passes every request to herenow, as a FastCGI host for
// /herenow/ does: the browser takes the site's pages and the script from
// www/ itself.
async function serveSite(context, origin) {
	await localNetwork(context, origin);
	const types = { '.html': 'text/html; charset=utf-8',
	    '.js': 'text/javascript; charset=utf-8', '.css': 'text/css' };
	await context.route((url) => url.origin === origin &&
	    (!url.pathname.startsWith('/herenow/') ||
	    url.pathname === '/herenow/herenow.js'), (route) => {
		let p = new URL(route.request().url()).pathname;
		p = p === '/herenow/herenow.js' ? '/herenow.js' :
		    p.endsWith('/') ? `${p}index.html` : p;
		const file = path.join(repo, 'www', path.normalize(p));
		if (!fs.existsSync(file))
			return route.fulfill({ status: 404, body: 'not found' });
		return route.fulfill({ body: fs.readFileSync(file),
		    contentType: types[path.extname(file)] || 'text/plain' });
	});
}

test('where lighttpd passes the upgrade on (>= 1.4.74: the stand-in) the widget takes herenow\'s own WebSocket, ws',
    { timeout: 60000 }, async () => {
	const ctx = await visitor();
	await serveSite(ctx, server.proxyBase);
	const sockets = [];
	const a = await Tab.open(ctx);
	tabs.add(a);
	a.page.on('websocket', (ws) => sockets.push(new URL(ws.url()).pathname));
	await a.page.goto(server.proxyBase + P1);
	// Counted with a reader through lighttpd's mod_wstunnel.
	const b = await open(await visitor(), P1);
	await allShow([a, b], READERS, reading(2), 10000);
	assert.equal(await a.transport(), 'ws');
	assert.equal(await b.transport(), 'wst');
	assert.deepEqual(sockets, ['/herenow/ws']);
	await a.close();
	await b.shows(READERS, reading(1), 3000, 'the ws reader\'s leave');
});

test('a reload of one tab never makes the other show a lower count',
    { timeout: 60000 }, async () => {
	const a = await open(await visitor(), P2);
	const b = await open(await visitor(), P2);
	await allShow([a, b], READERS, reading(2), 10000);
	const t0 = Date.now();
	for (let i = 0; i < 3; i++) {
		await b.page.reload();
		await b.shows(READERS, reading(2), 5000);
	}
	// Past the leave grace of the last reload, too.
	const until = Date.now() + grace + 500;
	while (Date.now() < until)
		assert.equal(await a.text(READERS), reading(2));
	const seen = (await a.counts(P2, t0)).map((c) => c.readers);
	assert.deepEqual(seen.filter((n) => n < 2), [],
	    `the other tab saw ${JSON.stringify(seen)}`);
	assert.equal(await a.text(READERS), reading(2));
	assert.equal(await b.text(READERS), reading(2));
});

test('single-page navigation (pushState, popstate) moves the reader from one post\'s count to the other\'s',
    { timeout: 60000 }, async () => {
	const a = await open(await visitor(), P1);
	const b = await open(await visitor(), P2);
	const idx = await open(await visitor(), '/');
	await a.shows(READERS, reading(1), 10000);
	await b.shows(READERS, reading(1), 10000);
	await idx.shows(beside(P1), listed(1), 10000);
	await idx.shows(beside(P2), listed(1), 10000);

	await a.page.evaluate(() => { window.notReloaded = true; });
	await a.page.click('a[data-spa]');	// "Next: A reload changes nothing"
	await waitFor(() => a.page.url().endsWith(P2), 5000, 'the URL to change');
	await allShow([a, b], READERS, reading(2), 5000,
	    'both readers of the second post to show 2');
	await idx.shows(beside(P2), listed(2), 5000);
	// The first post lost the reader: 0, below data-min="1", not shown.
	await waitFor(() => idx.hidden(beside(P1)), 5000,
	    'the first post\'s count to go (0 is below data-min)',
	    () => idx.describe());
	assert.equal(await a.page.evaluate(() => window.notReloaded), true,
	    'the page was reloaded');
	assert.equal(await a.transport(), 'wst');
	assert.equal((await count(P1)).readers, 0);

	await a.page.evaluate(() => history.back());
	await waitFor(() => a.page.url().endsWith(P1), 5000, 'back to P1');
	await a.shows(READERS, reading(1), 5000);
	await b.shows(READERS, reading(1), 5000);
	await idx.shows(beside(P1), listed(1), 5000);
	await idx.shows(beside(P2), listed(1), 5000);
	assert.equal(await a.page.evaluate(() => window.notReloaded), true);
});

test('the index page shows each post\'s count, through one watch stream',
    { timeout: 60000 }, async () => {
	const sockets = [];
	const requests = [];
	const ctx = await visitor();
	const idx = await open(ctx);
	idx.page.on('websocket', (ws) => sockets.push(new URL(ws.url()).pathname));
	idx.page.on('request', (req) => requests.push(new URL(req.url()).pathname));
	await idx.page.goto(server.url('/'));
	for (const p of [P1, P1, P2])
		await open(await visitor(), p);
	await idx.shows(beside(P1), listed(2), 10000);
	await idx.shows(beside(P2), listed(1), 10000);
	assert.equal(await idx.hidden(beside(P3)), true, 'a post with 0 shown');
	assert.equal(await idx.hidden(beside(P1)), false);
	await idx.shows(SITE, '4 people', 10000);
	assert.equal(await idx.text('.counts [data-herenow="tabs"]'), '1');
	for (const p of [P1, P2, P3]) {
		assert.equal(await idx.page.getAttribute(beside(p), 'aria-live'),
		    'polite');
	}
	// One stream: the WebSocket through the tunnel, after /herenow/ws
	// was refused (400); no SSE, no count requests.
	assert.deepEqual(sockets, ['/herenow/ws', '/herenow/wst']);
	assert.deepEqual(requests.filter((r) => /\/herenow\/(sse|count|beat)/
	    .test(r)), []);
});

test('data attributes: numbers, plural wording, zero, a minimum, another page, a locale; aria-live; a hidden tab stops counting and rejoins',
    { timeout: 60000 }, async () => {
	const html = `<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>widget test</title></head><body>
<span id="plain" data-herenow>x</span>
<span id="tabs" data-herenow="tabs"></span>
<span id="site" data-herenow="site"></span>
<span id="words" data-herenow data-one="1 person reading"
    data-other="{n} people reading"></span>
<span id="zero" data-herenow-page="/nobody/" data-zero="nobody there"
    data-other="{n} there"></span>
<span id="crowd" data-herenow data-min="3" data-other="{n}, a crowd"
    hidden></span>
<span id="arabic" data-herenow-page="${P1}" data-locale="ar-EG"
    data-one="{n} قارئ" data-other="{n} قراء"></span>
<span id="german" data-herenow-page="${P1}" data-herenow="tabs"
    data-locale="de-DE"></span>
<span id="quiet" data-herenow aria-live="off"></span>
<script src="/herenow/herenow.js" defer data-hidden-after="1s"></script>
</body></html>`;
	const page = '/widget-test.html';
	const serve = async (ctx) => {
		await ctx.route(server.url(page), (route) => route.fulfill({
		    contentType: 'text/html; charset=utf-8', body: html }));
		await localNetwork(ctx, server.base);
	};
	const ctxA = await visitor(), ctxB = await visitor();
	await serve(ctxA);
	await serve(ctxB);
	const a = await open(ctxA, page);
	const a2 = await open(ctxA, page);
	const b = await open(ctxB, page);
	await open(await visitor(), P1);
	await allShow([a, a2, b], '#plain', '2', 10000);
	await allShow([a, a2, b], '#tabs', '3', 10000);
	await a.shows('#site', '3', 10000);
	await a.shows('#words', '2 people reading', 5000);
	assert.equal(await a.transport(), 'wst');
	await a.shows('#zero', 'nobody there', 5000);
	await a.shows('#arabic', '١ قارئ', 5000);
	await a.shows('#german', '1', 5000);
	assert.equal(await a.hidden('#crowd'), true, '2 is below data-min 3');
	for (const id of ['plain', 'tabs', 'site', 'words', 'zero', 'arabic'])
		assert.equal(await a.page.getAttribute(`#${id}`, 'aria-live'),
		    'polite', id);
	assert.equal(await a.page.getAttribute('#quiet', 'aria-live'), 'off');

	const ctxC = await visitor();
	await serve(ctxC);
	const c = await open(ctxC, page);
	await a.shows('#crowd', '3, a crowd', 5000);
	assert.equal(await a.hidden('#crowd'), false);
	await a.shows('#words', '3 people reading', 5000);
	await c.close();
	await a.shows('#words', '2 people reading', 5000);

	// B's tab hidden for longer than data-hidden-after (1 s) leaves; seen
	// again, it rejoins.  (Headless tabs are always visible: the page is
	// told otherwise.)
	const setVisibility = (state) => b.page.evaluate((s) => {
		Object.defineProperty(document, 'visibilityState',
		    { configurable: true, get: () => s });
		Object.defineProperty(document, 'hidden',
		    { configurable: true, get: () => s === 'hidden' });
		document.dispatchEvent(new Event('visibilitychange'));
	}, state);
	const t0 = Date.now();
	await setVisibility('hidden');
	await a.shows('#plain', '1', 1000 + grace + 5000,
	    'the hidden tab to stop counting');
	assert.ok(Date.now() - t0 >= 1000, 'left before data-hidden-after');
	await setVisibility('visible');
	await a.shows('#plain', '2', 5000, 'the tab seen again to rejoin');
});

test('badge.svg shows the count, also to a browser without JavaScript',
    { timeout: 60000 }, async () => {
	const r = await open(await visitor(), P3);
	await r.shows(READERS, reading(1), 10000);
	const url = server.url(`/herenow/badge.svg?page=${P3}`);
	const res = await fetch(url);
	assert.equal(res.status, 200);
	assert.match(res.headers.get('content-type'), /^image\/svg\+xml/);
	assert.match(res.headers.get('cache-control') || '', /max-age=\d+/);
	const svg = await res.text();
	assert.match(svg, /<title>[^<]*\b1\b[^<]*<\/title>/, svg);

	// Rendered by the browser: the text says 1.
	const view = await open(await visitor(), null);
	await view.page.goto(url);
	assert.match(await view.page.textContent('svg text', { timeout: 5000 }),
	    /\b1\b/);
	const box = await view.page.$eval('svg', (el) => {
		const b = el.getBoundingClientRect();
		return { w: b.width, h: b.height };
	});
	assert.ok(box.w > 20 && box.h > 10, JSON.stringify(box));

	// The post without JavaScript: its <noscript> badge loads, and the
	// visitor is not counted (no script, no stream).
	const noJs = await visitor({ javaScriptEnabled: false });
	const page = await noJs.newPage();
	const badge = page.waitForResponse((resp) =>
	    resp.url().includes('/herenow/badge.svg'), { timeout: 10000 });
	await page.goto(server.url(P3));
	const resp = await badge;
	assert.equal(resp.status(), 200);
	await page.locator('noscript img, img[src*="badge.svg"]').first()
	    .screenshot({ path: path.join(outDir, 'widget-badge.png') });
	assert.equal((await count(P3)).readers, 1);
	await page.close();
});

test('count answers 304 to its own ETag, with Cache-Control: max-age=1',
    { timeout: 60000 }, async () => {
	const r = await open(await visitor(), P2);
	await r.shows(READERS, reading(1), 10000);
	const url = server.url(`/herenow/count?page=${P2}`);
	const first = await fetch(url);
	assert.equal(first.status, 200);
	assert.equal((await first.json()).readers, 1);
	const etag = first.headers.get('etag');
	assert.ok(etag, 'an ETag');
	assert.match(first.headers.get('cache-control') || '', /max-age=1\b/);
	const again = await fetch(url, { headers: { 'If-None-Match': etag } });
	assert.equal(again.status, 304);
	assert.equal(await again.text(), '');
	assert.equal(again.headers.get('etag'), etag);

	// A new count is a new ETag: the old one gets 200 and the body.
	await open(await visitor(), P2);
	await r.shows(READERS, reading(2), 10000);
	const changed = await waitFor(async () => {
		const res = await fetch(url, { headers: { 'If-None-Match': etag } });
		return res.status === 200 && res;
	}, 5000, 'a 200 to the old ETag after the count changed');
	assert.equal((await changed.json()).readers, 2);
	assert.notEqual(changed.headers.get('etag'), etag);
});

test('herenow.js is at most 4 KB gzipped, and lighttpd serves it',
    { timeout: 30000 }, async () => {
	const file = fs.readFileSync(path.join(repo, 'www', 'herenow.js'));
	const gz = zlib.gzipSync(file, { level: 9 }).length;
	assert.ok(gz <= 4096, `herenow.js is ${gz} bytes gzipped`);
	const res = await fetch(server.url('/herenow/herenow.js'));
	assert.equal(res.status, 200);
	assert.match(res.headers.get('content-type'), /javascript/);
	assert.equal(Buffer.from(await res.arrayBuffer()).compare(file), 0);
});

test('a screenshot of the demo blog is kept in the test output',
    { timeout: 60000 }, async (t) => {
	for (const p of [P1, P1, P2])
		await open(await visitor(), p);
	const ctx = await visitor({ viewport: { width: 900, height: 900 } });
	const post = await open(ctx, P1);
	const idx = await open(ctx, '/');
	await idx.shows(beside(P1), listed(3), 10000);
	await idx.shows(beside(P2), listed(1), 10000);
	await idx.shows('.counts [data-herenow="tabs"]', '1', 10000);
	await post.shows(READERS, reading(3), 10000);
	const files = [path.join(outDir, 'widget-index.png'),
	    path.join(outDir, 'widget-post.png')];
	await idx.page.screenshot({ path: files[0], fullPage: true });
	await post.page.screenshot({ path: files[1], fullPage: true });
	for (const f of files)
		assert.ok(fs.statSync(f).size > 1000, f);
	t.diagnostic(`screenshots: ${files.join(' ')}`);
});
