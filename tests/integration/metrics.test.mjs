// Prometheus metrics: the admin token's rules, a valid text exposition,
// and numbers that follow a scripted load summed over every process.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { startServer, waitFor, curl, newVisitor } from './harness.mjs';

const execFileP = promisify(execFile);
const TOKEN = 'metrics-Token_42';
let server;
before(async () => {
	server = await startServer({ name: 'metrics', maxProcs: 2,
	    config: { admin_token: TOKEN, heartbeat: '1s',
		stale_after: '3s' } });
});
after(async () => {
	await server?.stop();
});

async function scrape() {
	const { stdout } = await execFileP('curl', ['-sS', '--max-time', '10',
	    '-H', `Authorization: Bearer ${TOKEN}`, '-w', '\n%{http_code} '
	    + '%{content_type}', server.url('/herenow/metrics')]);
	const cut = stdout.lastIndexOf('\n');
	const [status, ...type] = stdout.slice(cut + 1).split(' ');
	return { status: Number(status), type: type.join(' '),
	    text: stdout.slice(0, cut) };
}

// Parses the text exposition format (0.0.4) strictly: every line a
// comment (HELP/TYPE) or `name{labels} value`; every series' family
// declared by a TYPE line before it; returns name{labels} -> value.
function parse(text) {
	const types = new Map();
	const series = new Map();
	const lines = text.split('\n');
	assert.equal(lines.at(-1), '', 'ends with a newline');
	for (const line of lines.slice(0, -1)) {
		let m;
		if ((m = /^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) (.+)$/.exec(line)))
			continue;
		if ((m = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/.exec(line))) {
			assert.ok(!types.has(m[1]), `TYPE twice: ${m[1]}`);
			types.set(m[1], m[2]);
			continue;
		}
		m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[a-zA-Z_][a-zA-Z0-9_]*="[^"\\\n]*"(,[a-zA-Z_][a-zA-Z0-9_]*="[^"\\\n]*")*\})? (-?[0-9.e+-]+|\+Inf|NaN)$/.exec(line);
		assert.ok(m, `not a valid sample line: ${JSON.stringify(line)}`);
		const name = m[1];
		const family = types.has(name) ? name :
		    name.replace(/_(bucket|sum|count)$/, '');
		assert.ok(types.has(family), `no TYPE for ${name}`);
		const key = name + (m[2] ?? '');
		assert.ok(!series.has(key), `series twice: ${key}`);
		series.set(key, Number(m[4]));
	}
	return { types, series };
}

test('metrics needs the admin token', { timeout: 30000 }, async () => {
	let r = await curl(server.url('/herenow/metrics'));
	assert.equal(r.status, 401, r.body);
	r = await curl(server.url('/herenow/metrics?token=wrong'));
	assert.equal(r.status, 403, r.body);
	const ok = await scrape();
	assert.equal(ok.status, 200);
	assert.match(ok.type, /^text\/plain; version=0\.0\.4/);
	parse(ok.text);
});

test('metrics follow a scripted load, summed over both processes',
    { timeout: 60000 }, async () => {
	const readers = [];
	for (let i = 0; i < 6; i++)
		readers.push(server.reader({ page: `/m/${i % 2}` }));
	await waitFor(() => readers.every((r) => r.readers() === 3), 10000,
	    'six readers counted');
	// Both processes hold some (least-connection balancing).
	await waitFor(async () => (await server.sql(
	    'SELECT count(DISTINCT owner) AS n FROM sessions')).at(0).n === 2,
	    10000, 'readers on both processes');
	const bad = await curl(server.url('/herenow/sse?page=nope'));
	assert.equal(bad.status, 400);
	readers[0].close();

	// The series reach the table at each heartbeat (1 s here).
	let last;
	await waitFor(async () => {
		last = parse((await scrape()).text).series;
		return last.get('herenow_streams{transport="sse"}') === 5 &&
		    last.get('herenow_leaves_total') >= 1 &&
		    last.get('herenow_refused_total{reason="bad_page"}') >= 1 &&
		    last.get('herenow_readers') === 5;
	}, 15000, 'the load in the metrics');
	const s = last;
	assert.ok(s.get('herenow_joins_total') >= 6, 'joins');
	assert.equal(s.get('herenow_processes'), 2);
	assert.equal(s.get('herenow_sessions') >= 5, true);
	assert.ok(s.get('herenow_messages_sent_total') >= 6, 'messages');
	assert.equal(s.get('herenow_build_info{version="0.1.0"}'), 1);
	assert.ok(s.get('process_start_time_seconds') > 1.6e9);
	// Histograms: cumulative buckets ending in +Inf == count.
	for (const h of ['herenow_store_batch_size',
	    'herenow_store_commit_seconds']) {
		const buckets = [...s].filter(([k]) =>
		    k.startsWith(`${h}_bucket{`)).map(([, v]) => v);
		assert.ok(buckets.length >= 2, h);
		for (let i = 1; i < buckets.length; i++)
			assert.ok(buckets[i] >= buckets[i - 1],
			    `${h}: cumulative`);
		assert.equal(s.get(`${h}_bucket{le="+Inf"}`),
		    s.get(`${h}_count`));
		assert.ok(s.get(`${h}_count`) > 0);
	}
	for (const r of readers)
		r.close();
});
