// WebSocket through mod_cgi with cgi.upgrade = "enable" (lighttpd 1.4.46 and
// later): herenow copied as cgi-bin/herenow.cgi with its herenow.conf
// beside it, as on a shared host, does the handshake itself and speaks
// frames on stdin/stdout, one process per reader.

import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import {
	startServer, waitFor, curl, wsConfig, wsSummary, liveSessions,
	wsScenarios,
} from './harness.mjs';

const carrier = 'cgi';

let server;
before(async () => {
	server = await startServer({ name: 'ws-cgi', cgi: true,
	    config: wsConfig });
});
afterEach(() => {
	server?.closeReaders();
});
after(async () => {
	await server?.stop();
});

wsScenarios(test, () => server, carrier);

test('one herenow.cgi process per reader; one who leaves ends it',
    { timeout: 60000 }, async () => {
	const page = '/cgi/procs';
	const readers = [1, 2, 3].map(() => server.wsReader({ carrier, page }));
	await waitFor(() => readers.every((r) => r.readers() === 3), 10000,
	    'three readers', () => wsSummary(readers));
	await waitFor(() => server.childrenOf('cgi').length === 3, 10000,
	    'three herenow.cgi processes',
	    () => `cgi children: ${server.childrenOf('cgi')}`);
	readers[0].close();
	readers[1].terminate();
	await waitFor(() => server.childrenOf('cgi').length === 1, 10000,
	    'the processes of the two who left to end',
	    () => `cgi children: ${server.childrenOf('cgi')}`);
	await waitFor(() => readers[2].readers() === 1, 10000,
	    'the one left to see 1', () => wsSummary([readers[2]]));
	readers[2].close();
	await waitFor(() => server.childrenOf('cgi').length === 0, 10000,
	    'no herenow.cgi left');
	assert.deepEqual(await liveSessions(server, readers[2].visitor), []);
});

test('SSE through the same CGI counts with the WebSocket readers',
    { timeout: 60000 }, async () => {
	const page = '/cgi/sse';
	const ws = [1, 2].map(() => server.wsReader({ carrier, page }));
	const sse = [1, 2].map(() => server.reader({ page, via: 'cgi' }));
	const all = [...ws, ...sse];
	await waitFor(() => all.every((r) => r.readers() === 4 &&
	    r.count().tabs === 4), 10000, 'all four at 4',
	    () => wsSummary(all));
	ws[0].close();
	sse[0].close();
	const left = [ws[1], sse[1]];
	await waitFor(() => left.every((r) => r.readers() === 2 &&
	    r.count().tabs === 2), 10000, 'the two left at 2',
	    () => wsSummary(left));
});

test('herenow.conf beside herenow.cgi is never served', { timeout: 30000 },
    async () => {
	const res = await curl(server.url('/cgi-bin/herenow.conf'));
	assert.equal(res.status, 403, res.body);
	assert.doesNotMatch(res.body, /db =/);
	// The program runs; it is not sent as a file.
	const health = await curl(server.endpoint('health', 'cgi'));
	assert.equal(health.status, 200, health.body);
	assert.equal(health.json?.status, 'ok', health.body);
});
