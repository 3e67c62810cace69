// SSE and WebSocket readers of one page, on every carrier at once, see the
// same exact numbers: they are counted in one session table.  One lighttpd
// runs two FastCGI processes (SSE), the tunnel process (mod_wstunnel) and
// herenow.cgi processes (SSE and WebSocket); herenow --listen behind the
// FastCGI-upgrade proxy serves SSE and WebSocket as lighttpd >= 1.4.74
// would.  Six kinds of process, one database.

import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import {
	startServer, waitFor, newVisitor, wsConfig, wsSummary, liveSessions,
} from './harness.mjs';

let server;
before(async () => {
	server = await startServer({ name: 'ws-mixed', maxProcs: 2,
	    tunnel: 'spawn', cgi: true, upgrade: true, config: wsConfig });
});
afterEach(() => {
	server?.closeReaders();
});
after(async () => {
	await server?.stop();
});

// Readers of page on every carrier: { name: reader }.
function everyCarrier(page, shared) {
	const s = server;
	return {
		'sse/fastcgi 1': s.reader({ page }),
		'sse/fastcgi 2': s.reader({ page }),
		'sse/cgi': s.reader({ page, via: 'cgi' }),
		'sse/upgrade': s.reader({ page, via: 'upgrade' }),
		'ws/wst 1': s.wsReader({ carrier: 'wst', page }),
		'ws/wst 2': s.wsReader({ carrier: 'wst', page }),
		'ws/cgi': s.wsReader({ carrier: 'cgi', page }),
		'ws/upgrade 1': s.wsReader({ carrier: 'upgrade', page }),
		'ws/upgrade 2': s.wsReader({ carrier: 'upgrade', page }),
		// One visitor with a tab on SSE and one on WebSocket.
		'shared sse': s.reader({ page, visitor: shared }),
		'shared ws': s.wsReader({ carrier: 'wst', page, visitor: shared }),
	};
}

function exactly(readers, page, n, tabs, site) {
	return readers.every((r) => {
		const c = r.count(page);
		return c && c.readers === n && c.tabs === tabs &&
		    (site === undefined || c.site === site);
	});
}

test('SSE and WebSocket readers of one page, on every carrier, see the same exact numbers',
    { timeout: 90000 }, async () => {
	const page = '/mixed/post';
	const shared = newVisitor('shared');
	const by = everyCarrier(page, shared);
	const all = Object.values(by);
	// 11 streams, 10 visitors (one has two tabs), nobody else.
	await waitFor(() => exactly(all, page, 10, 11, 10), 15000,
	    'every reader on every carrier to show 10 readers, 11 tabs, ' +
	    'site 10', () => wsSummary(all));
	assert.equal((await liveSessions(server, shared)).length, 2);
	for (const r of all)
		assert.deepEqual(r.errors.map((e) => e.code ?? e.message), [],
		    'errors on a stream');

	// Three leave (one per kind of WebSocket carrier, one SSE), one
	// moves to another page within its stream.
	by['ws/wst 1'].close();
	by['ws/upgrade 1'].terminate();
	by['sse/cgi'].close();
	by['ws/cgi'].moveTo('/mixed/other');
	const moved = by['ws/cgi'];
	const left = all.filter((r) => !r.closed && r !== moved &&
	    ![by['ws/wst 1'], by['ws/upgrade 1'], by['sse/cgi']].includes(r));
	assert.equal(left.length, 7);
	await waitFor(() => exactly(left, page, 6, 7, 7) &&
	    moved.readers('/mixed/other') === 1, 15000,
	    'the seven left to show 6 readers, 7 tabs, site 7; the mover ' +
	    '1 on its new page', () => `${wsSummary(left)} | mover ` +
	    wsSummary([moved], '/mixed/other'));

	// The visitor's SSE tab goes: still a reader through its WebSocket.
	by['shared sse'].close();
	const rest = left.filter((r) => r !== by['shared sse']);
	await waitFor(() => exactly(rest, page, 6, 6), 15000,
	    'readers 6, tabs 6 once the shared visitor has one tab',
	    () => wsSummary(rest));
});

test('watchers on SSE and on WebSocket see the same counts of a watched page',
    { timeout: 60000 }, async () => {
	const page = '/mixed/watched';
	const watchers = [
		server.reader({ page: '/mixed/index', watch: [page] }),
		server.reader({ page: '/mixed/index', watch: [page], via: 'cgi' }),
		server.wsReader({ carrier: 'wst', page: undefined, watch: [page] }),
		server.wsReader({ carrier: 'cgi', page: undefined, watch: [page] }),
		server.wsReader({ carrier: 'upgrade', page: undefined,
		    watch: [page] }),
	];
	await waitFor(() => watchers.every((w) => w.count(page)?.readers === 0),
	    15000, 'every watcher to get the count (0) at once',
	    () => wsSummary(watchers, page));
	const readers = [
		server.wsReader({ carrier: 'wst', page }),
		server.wsReader({ carrier: 'cgi', page }),
		server.wsReader({ carrier: 'upgrade', page }),
		server.reader({ page, via: 'upgrade' }),
	];
	await waitFor(() => exactly([...watchers, ...readers], page, 4, 4),
	    15000, 'watchers and readers at 4',
	    () => wsSummary([...watchers, ...readers], page));
	readers[0].close();
	readers[3].close();
	await waitFor(() => exactly([...watchers, readers[1], readers[2]], page,
	    2, 2), 15000, 'watchers and readers at 2',
	    () => wsSummary([...watchers, readers[1], readers[2]], page));
});
