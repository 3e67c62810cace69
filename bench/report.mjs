// bench/report.mjs: turns bench/run's raw result lines into BENCHMARKS.md
// (stdout): the medians over runs, ratios against the peers measured in
// the same run, and issue 7's targets met or not.
//
//	node bench/report.mjs RESULTS.txt > BENCHMARKS.md

import { readFileSync } from 'node:fs';

const file = process.argv[2];
if (!file) {
	console.error('usage: node bench/report.mjs RESULTS.txt');
	process.exit(2);
}

// "key=value key2="quoted value"" -> object; the first word is the kind.
function parse(line) {
	const o = {};
	const re = /(\w+)=("([^"]*)"|\S*)/g;
	let m;
	o.kind = line.split(' ', 1)[0];
	while ((m = re.exec(line)) !== null)
		o[m[1]] = m[3] !== undefined ? m[3] : m[2];
	// The load client's own line starts after the tags: its first word.
	const words = line.split(' ');
	o.what = words.find((w, i) => i > 0 && !w.includes('=')) ?? '';
	return o;
}

const lines = readFileSync(file, 'utf8').split('\n').filter(Boolean)
    .map(parse);
const meta = Object.assign({}, ...lines.filter((l) => l.kind === 'meta'));

function median(xs) {
	const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
	if (v.length === 0)
		return NaN;
	const h = v.length >> 1;
	return v.length % 2 ? v[h] : (v[h - 1] + v[h]) / 2;
}

const key = (l) => `${l.peer}|${l.procs}|${l.tr}|${l.n}`;
const runsOf = (kind) => {
	// kind|peer|procs|tr|n -> run -> lines of that run
	const m = new Map();
	for (const l of lines.filter((x) => x.kind === kind)) {
		const k = key(l);
		if (!m.has(k))
			m.set(k, new Map());
		const r = m.get(k);
		if (!r.has(l.run))
			r.set(l.run, []);
		r.get(l.run).push(l);
	}
	return m;
};

const bench = runsOf('bench');
const churn = runsOf('churn');

// Per run: the value of field f on the line whose load-client word is w.
function perRun(runs, w, f, pred = () => true) {
	const out = [];
	for (const ls of runs.values()) {
		const ok = ls.find((l) => l.what === 'exit')?.rc === '0';
		const l = ls.find((x) => x.what === w && pred(x));
		out.push(ok && l ? Number(l[f]) : NaN);
	}
	return out;
}
function okRuns(runs) {
	let ok = 0;
	for (const ls of runs.values())
		ok += ls.find((l) => l.what === 'exit')?.rc === '0' ? 1 : 0;
	return `${ok}/${runs.size}`;
}
// Summed over a role's processes: field at phase, per run.
function roleSum(ls, role, phase, f) {
	let sum = 0, seen = false;
	for (const l of ls) {
		if (l.what === 'proc' && l.phase === phase &&
		    (role === '*' || role.split('+').includes(l.role))) {
			sum += Number(l[f]);
			seen = true;
		}
	}
	return seen ? sum : NaN;
}
// MB per 1,000 held readers for a role (held - idle), in one run's lines.
function memOf(ls, role, n) {
	const held = roleSum(ls, role, 'held', 'rss_kb');
	const idle = roleSum(ls, role, 'idle', 'rss_kb');
	return (held - idle) / 1024 / (n / 1000);
}
function memPer1000(runs, role, n) {
	return median([...runs.values()].map((ls) => memOf(ls, role, n)));
}

const fmt = (x, d = 1) => Number.isFinite(x) ? x.toFixed(d) : '–';
const label = (peer, procs) => {
	const names = {
		herenow: 'herenow + lighttpd',
		floor: 'floor (lighttpd + minimal backend)',
		nchan: 'nginx + nchan (+ counter)',
		node: 'Node (ws + http)',
	};
	const p = peer === 'herenow' ? `${procs} proc${procs > 1 ? 's' : ''}` :
	    peer === 'nchan' ? `${procs} worker${procs > 1 ? 's' : ''}` : '';
	return `${names[peer] ?? peer}${p ? ', ' + p : ''}`;
};
const mainRole = { herenow: 'herenow', floor: 'floor', nchan: 'nginx',
    node: 'node' };
const frontRole = { herenow: 'lighttpd', floor: 'lighttpd', nchan: 'counter',
    node: null };

const out = [];
const p = (s = '') => out.push(s);

p('# Benchmarks');
p();
p('Made by `bench/run` (`make bench`); do not edit by hand.  Each figure');
p('is the median of the runs; every peer ran on the same machine in the');
p('same session, one at a time, driven by the same load client');
p('(`bench/loadclient.c`, one epoll process on loopback).  The machine is');
p('shared and noisy: compare ratios within this file, not with other');
p('machines.  bench/README.md explains each scenario.');
p();
p('## Machine and versions');
p();
p(`- ${meta.date}, ${meta.runs} run(s) of every scenario` +
    (meta.quick === '1' ? ' (--quick: one run, short churn)' : ''));
p(`- ${meta.cpu}, ${meta.cores} cores, ${meta.mem_gib} GiB; ` +
    `Linux ${meta.kernel}, Debian ${meta.debian}`);
p(`- ${meta.lighttpd}; ${meta.nginx}, nchan ${meta.nchan}; ` +
    `node ${meta.node}, ws ${meta.ws}; SQLite ${meta.sqlite}`);
p(`- ${meta.herenow} (commit ${meta.commit})`);
p();

p('## Connect and broadcast (one page)');
p();
p('connect: from the first connect until every reader shows `readers: N`;');
p('settle: from the last reader\'s 200/101 until then.  broadcast: one');
p('more reader joins; the delay until each of the N readers shows N+1.');
p();
p('| peer | transport | N | runs ok | connect ms | settle ms | ' +
    'broadcast p50 ms | p99 ms | max ms |');
p('|---|---|---:|---:|---:|---:|---:|---:|---:|');
const order = ['herenow', 'floor', 'nchan', 'node'];
const bkeys = [...bench.keys()].sort((a, b) => {
	const [pa, qa, ta, na] = a.split('|'), [pb, qb, tb, nb] = b.split('|');
	return Number(na) - Number(nb) || order.indexOf(pa) -
	    order.indexOf(pb) || qa - qb || ta.localeCompare(tb);
});
const M = {};	// peer|procs|tr|n -> medians
for (const k of bkeys) {
	const r = bench.get(k);
	const [peer, procs, tr, n] = k.split('|');
	const m = {
		all: median(perRun(r, 'connect', 'all_ms')),
		settle: median(perRun(r, 'connect', 'settle_ms')),
		p50: median(perRun(r, 'broadcast', 'p50_ms')),
		p99: median(perRun(r, 'broadcast', 'p99_ms')),
		max: median(perRun(r, 'broadcast', 'max_ms')),
		mainMem: memPer1000(r, mainRole[peer], Number(n)),
		frontMem: frontRole[peer] ?
		    memPer1000(r, frontRole[peer], Number(n)) : NaN,
		allMem: memPer1000(r, '*', Number(n)),
	};
	M[k] = m;
	p(`| ${label(peer, procs)} | ${tr === 'wst' ? 'ws (wstunnel)' : tr} | ` +
	    `${n} | ${okRuns(r)} | ${fmt(m.all, 0)} | ${fmt(m.settle)} | ` +
	    `${fmt(m.p50)} | ${fmt(m.p99)} | ${fmt(m.max)} |`);
}
p();

p('## Memory per 1,000 held readers (N = 8,000)');
p();
p('Resident set (VmRSS) with N readers held minus before the first');
p('connect, per 1,000 readers, in MB, summed over each part\'s processes.');
p('nchan\'s part is nginx (master and workers); its counter is listed');
p('on its own.');
p();
p('| peer | transport | server part | MB | front part | MB | ' +
    'all together MB |');
p('|---|---|---|---:|---|---:|---:|');
for (const k of bkeys.filter((x) => x.endsWith('|8000'))) {
	const [peer, procs, tr] = k.split('|');
	const m = M[k];
	p(`| ${label(peer, procs)} | ${tr === 'wst' ? 'ws (wstunnel)' : tr} | ` +
	    `${mainRole[peer]} | ${fmt(m.mainMem, 2)} | ` +
	    `${frontRole[peer] ?? '–'} | ${fmt(m.frontMem, 2)} | ` +
	    `${fmt(m.allMem, 2)} |`);
}
p();

p('## Churn (4,000 readers; 500 joins and 500 leaves a second)');
p();
p(`Over ${meta.churn_s} s; CPU is user + system time from the start of`);
p('the churn until every remaining reader shows the exact count again');
p('(herenow counts a leaver for leave_grace, 3 s, so that takes a few');
p('seconds), per 1,000 changes, and as a share of one core over the');
p('churn itself.');
p();
p('| peer | runs ok (exact at the end) | part | CPU s / 1,000 changes | ' +
    '% of a core | settle ms |');
p('|---|---:|---|---:|---:|---:|');
const C = {};
for (const k of [...churn.keys()].sort()) {
	const r = churn.get(k);
	const [peer, procs] = k.split('|');
	const roles = peer === 'herenow' || peer === 'floor' ?
	    [mainRole[peer], 'lighttpd'] :
	    peer === 'nchan' ? ['nginx', 'counter'] : [mainRole[peer]];
	for (const role of roles) {
		const per = [], pct = [];
		for (const ls of r.values()) {
			const c = ls.find((l) => l.what === 'churn');
			if (!c || ls.find((l) => l.what === 'exit')?.rc !== '0')
				continue;
			const ch = Number(c.joins) + Number(c.leaves);
			const a = roleSum(ls, role, 'churn_start', 'cpu_s');
			const e = roleSum(ls, role, 'churn_end', 'cpu_s');
			const z = roleSum(ls, role, 'churn_settled', 'cpu_s');
			per.push((z - a) / (ch / 1000));
			pct.push(100 * (e - a) / (Number(c.run_ms) / 1000));
		}
		const settle = median(perRun(r, 'churn', 'settle_ms'));
		C[`${peer}|${procs}|${role}`] = { per: median(per),
		    pct: median(pct) };
		p(`| ${label(peer, procs)} | ${okRuns(r)} | ${role} | ` +
		    `${fmt(median(per), 3)} | ${fmt(median(pct))} | ` +
		    `${fmt(settle, 0)} |`);
	}
}
p();

// Where herenow's CPU in the churn goes, by thread (the load client reads
// /proc/PID/task): share of a core over the churn, median of the runs.
const threadKinds = [['herenow', 'event loop (broadcasts, streams)'],
    ['hn-store', 'store thread (SQLite)'],
    ['hn-accept', 'acceptor threads (requests, hand-off)']];
const T = {};
{
	const rows = [];
	for (const procs of ['1', '2']) {
		const r = churn.get(`herenow|${procs}|sse|4000`);
		if (!r)
			continue;
		for (const [name, what] of threadKinds) {
			const pct = [];
			for (const ls of r.values()) {
				const c = ls.find((l) => l.what === 'churn');
				if (!c || ls.find((l) => l.what === 'exit')?.rc !==
				    '0')
					continue;
				const at = (ph) => {
					const m = new Map();
					for (const l of ls)
						if (l.what === 'thread' &&
						    l.role === 'herenow' &&
						    l.name === name &&
						    l.phase === ph)
							m.set(l.tid,
							    Number(l.cpu_s));
					return m;
				};
				const a = at('churn_start'), e = at('churn_end');
				if (e.size === 0)
					continue;
				let sum = 0;
				for (const [tid, v] of e)
					sum += v - (a.get(tid) ?? 0);
				pct.push(100 * sum / (Number(c.run_ms) / 1000));
			}
			if (pct.length === 0)
				continue;
			T[`${procs}|${name}`] = median(pct);
			rows.push(`| ${label('herenow', procs)} | ${what} | ` +
			    `${fmt(median(pct))} |`);
		}
	}
	if (rows.length > 0) {
		p('herenow\'s share above, by thread (all herenow processes; ' +
		    'the tunnel');
		p('process has its own event loop and store thread):');
		p();
		p('| peer | thread | % of a core |');
		p('|---|---|---:|');
		rows.forEach((x) => p(x));
		p();
	}
}

p('## Store (group commit)');
p();
p('`store_bench`: the real store thread on a real SQLite file (WAL),');
p('fed joins and leaves as fast as one producer can queue them (200,000');
p('operations, 4,000 sessions live, 100 pages); with 2, two processes on');
p('one file at once, each its own 200,000.');
p();
p('| processes | operations / s (each) | together | mean batch | ' +
    'mean commit ms |');
p('|---:|---:|---:|---:|---:|');
const S = {};
for (const procs of ['1', '2']) {
	const ls = lines.filter((l) => l.kind === 'store' &&
	    l.procs === procs);
	if (ls.length === 0)
		continue;
	S[procs] = median(ls.map((l) => Number(l.ops_per_s)));
	// All processes' operations over the slowest one's time, per run:
	// what the shared table took in a second.
	const runs = new Map();
	for (const l of ls) {
		const r = runs.get(l.run) ?? { ops: 0, s: 0 };
		r.ops += Number(l.ops);
		r.s = Math.max(r.s, Number(l.seconds));
		runs.set(l.run, r);
	}
	S[`${procs}|all`] = median([...runs.values()].map((r) => r.ops / r.s));
	p(`| ${procs} | ${fmt(S[procs], 0)} | ${fmt(S[`${procs}|all`], 0)} | ` +
	    `${fmt(median(ls.map((l) => Number(l.mean_batch))), 0)} | ` +
	    `${fmt(median(ls.map((l) => Number(l.commit_ms_mean))), 1)} |`);
}
p();

// One configuration's figure over another's, run by run (each run has
// both, minutes apart): the median of those ratios is steadier on a noisy
// machine than the ratio of the medians.  f gives the figure of one run
// from its lines.
function pairedBy(a, b, f) {
	const ra = bench.get(a), rb = bench.get(b);
	if (!ra || !rb)
		return NaN;
	const out = [];
	for (const [run, ls] of ra)
		if (rb.has(run))
			out.push(f(ls) / f(rb.get(run)));
	return median(out);
}
const p99Of = (ls) => {
	const ok = ls.find((l) => l.what === 'exit')?.rc === '0';
	const l = ls.find((x) => x.what === 'broadcast');
	return ok && l ? Number(l.p99_ms) : NaN;
};
const pairedP99 = (a, b) => pairedBy(a, b, p99Of);
// MB per 1,000 readers at N = 8,000, all of a peer's processes together.
const pairedMem = (a, b) => pairedBy(`${a}|8000`, `${b}|8000`,
    (ls) => memOf(ls, '*', 8000));

// Issue 7's targets, as ratios in this run.
p('## Targets (issue 7)');
p();
p('| target | measured | met |');
p('|---|---|---|');
const row = (what, val, ok) => p(`| ${what} | ${val} | ` +
    `${ok === undefined ? '–' : ok ? 'yes' : '**no**'} |`);
const get = (peer, procs, tr, n = 8000) => M[`${peer}|${procs}|${tr}|${n}`];
for (const procs of ['1', '2']) {
	for (const tr of ['sse', 'wst']) {
		const h = get('herenow', procs, tr);
		if (!h)
			continue;
		row(`herenow's own RSS ≤ 1.0 MB per 1,000 readers ` +
		    `(${procs} proc, ${tr})`, `${fmt(h.mainMem, 2)} MB`,
		    Number.isFinite(h.mainMem) ? h.mainMem <= 1.0 : undefined);
	}
}
{
	const h = get('herenow', '1', 'sse'), x = get('nchan', '1', 'sse');
	if (h && x) {
		const r = h.allMem / x.allMem;
		row('lighttpd + herenow ≤ 0.6 × nginx + nchan per 1,000 ' +
		    'readers (SSE, 1 proc / 1 worker)',
		    `${fmt(h.allMem, 2)} / ${fmt(x.allMem, 2)} MB = ` +
		    `${fmt(r, 2)}×`, Number.isFinite(r) ? r <= 0.6 :
		    undefined);
	}
	const hw = get('herenow', '1', 'wst'), xw0 = get('nchan', '1', 'ws');
	if (hw && xw0) {
		const r = hw.allMem / xw0.allMem;
		row('the same over WebSocket (herenow through mod_wstunnel, ' +
		    'nchan\'s own WebSocket)',
		    `${fmt(hw.allMem, 2)} / ${fmt(xw0.allMem, 2)} MB = ` +
		    `${fmt(r, 2)}×`, Number.isFinite(r) ? r <= 0.6 :
		    undefined);
	}
	const f = get('floor', '1', 'sse');
	const paired = (a, b) => pairedP99(`${a}|8000`, `${b}|8000`);
	if (h && x) {
		const r = paired('herenow|1|sse', 'nchan|1|sse');
		row('SSE broadcast p99 at 8,000 ≤ 0.8 × nchan\'s (median of ' +
		    'the runs\' ratios)', `${fmt(h.p99)} / ${fmt(x.p99)} ms; ` +
		    `${fmt(r, 2)}×`, Number.isFinite(r) ? r <= 0.8 : undefined);
	}
	if (f && x) {
		const r = paired('floor|1|sse', 'nchan|1|sse');
		row('(for scale: the bare floor\'s SSE p99 over nchan\'s)',
		    `${fmt(f.p99)} / ${fmt(x.p99)} ms; ${fmt(r, 2)}×`,
		    undefined);
	}
	if (h && f) {
		const r = paired('herenow|1|sse', 'floor|1|sse');
		row('SSE broadcast p99 at 8,000 ≤ 1.1 × the bare floor\'s ' +
		    '(median of the runs\' ratios)', `${fmt(h.p99)} / ` +
		    `${fmt(f.p99)} ms; ${fmt(r, 2)}×`,
		    Number.isFinite(r) ? r <= 1.1 : undefined);
	}
	const w = get('herenow', '1', 'wst'), xw = get('nchan', '1', 'ws');
	if (w && xw) {
		const r = paired('herenow|1|wst', 'nchan|1|ws');
		row('WebSocket broadcast p99 at 8,000 ≤ nchan\'s WebSocket p99 ' +
		    '(median of the runs\' ratios)', `${fmt(w.p99)} / ` +
		    `${fmt(xw.p99)} ms; ${fmt(r, 2)}×`,
		    Number.isFinite(r) ? r <= 1.0 : undefined);
	}
	// The bare floor behind the same mod_wstunnel: what lighttpd costs
	// before herenow does anything.
	const fw = get('floor', '1', 'wst');
	const behind = 'the bare floor behind the same mod_wstunnel';
	if (w && fw) {
		const rp = paired('herenow|1|wst', 'floor|1|wst');
		const rm = pairedMem('herenow|1|wst', 'floor|1|wst');
		row('(for scale: WebSocket broadcast p99 at 8,000, herenow ' +
		    `over ${behind}; median of the runs' ratios)`,
		    `${fmt(w.p99)} / ${fmt(fw.p99)} ms; ${fmt(rp, 2)}×`,
		    undefined);
		row('(for scale: WebSocket memory per 1,000 readers at ' +
		    `8,000, herenow over ${behind}, all processes; median ` +
		    'of the runs\' ratios)', `${fmt(w.allMem, 2)} / ` +
		    `${fmt(fw.allMem, 2)} MB; ${fmt(rm, 2)}×`, undefined);
	}
	if (w && fw && xw) {
		// With the runs' ratios to nchan: herenow's gap is h/x - 1, the
		// part the floor has already f/x - 1.
		const share = (hx, fx, unit) => {
			if (!Number.isFinite(hx) || !Number.isFinite(fx))
				return '–';
			if (hx <= 1)
				return `no gap (herenow ${fmt(hx, 2)}× nchan)`;
			return `${fmt(100 * (fx - 1) / (hx - 1), 0)} % ` +
			    `(floor ${fmt(fx, 2)}×, herenow ${fmt(hx, 2)}× ` +
			    `nchan's ${unit})`;
		};
		row('lighttpd\'s share of the WebSocket memory gap to nchan ' +
		    `at 8,000 (what ${behind} already has of it; all ` +
		    'processes, runs\' ratios)',
		    share(pairedMem('herenow|1|wst', 'nchan|1|ws'),
		    pairedMem('floor|1|wst', 'nchan|1|ws'), 'MB'),
		    undefined);
		row('lighttpd\'s share of the WebSocket p99 gap to nchan at ' +
		    '8,000 (the same, for broadcast p99)',
		    share(paired('herenow|1|wst', 'nchan|1|ws'),
		    paired('floor|1|wst', 'nchan|1|ws'), 'p99'), undefined);
	}
}
for (const procs of ['1', '2']) {
	for (const tr of ['sse', 'wst']) {
		const h = get('herenow', procs, tr);
		if (h)
			row(`all 8,000 exact within 0.5 s of the last connect ` +
			    `(${procs} proc, ${tr})`, `${fmt(h.settle, 0)} ms`,
			    Number.isFinite(h.settle) ? h.settle <= 500 :
			    undefined);
	}
}
if (S['1'] !== undefined)
	row('store ≥ 200,000 session operations / s (1 process)',
	    `${fmt(S['1'], 0)} / s`, S['1'] >= 200000);
if (S['2'] !== undefined) {
	row('store ≥ 200,000 session operations / s (2 processes on one ' +
	    'file, together)', `${fmt(S['2|all'], 0)} / s`,
	    S['2|all'] >= 200000);
	// SQLite lets one process write at a time: two processes cannot
	// each do more than half of what one does alone.
	row('(for scale: each of the 2 processes; one writes at a time, so ' +
	    'each ≥ 200,000 would need one writer at ≥ 400,000, against the ' +
	    '1-process figure above)', `${fmt(S['2'], 0)} / s`, undefined);
}
for (const procs of ['1', '2']) {
	const c = C[`herenow|${procs}|herenow`];
	if (c)
		row(`churn of 1,000 changes/s ≤ 10 % of one core (herenow, ` +
		    `${procs} proc)`, `${fmt(c.pct)} %`, c.pct <= 10);
}
{
	const c = C['floor|1|floor'];
	if (c)
		row('(for scale: the bare floor, which only accepts and writes ' +
		    'the same broadcasts, in the same churn)', `${fmt(c.pct)} %`,
		    undefined);
	// herenow does the floor's work (accept each reader, one write per
	// reader per broadcast) and commits every change to the shared
	// table: those two alone, measured in the same run.
	const st = T['1|hn-store'];
	if (c && Number.isFinite(st))
		row('(for scale: the floor plus herenow\'s store thread alone ' +
		    '(SQLite, 20 group commits a second), in the same churn: ' +
		    'the least herenow\'s design can cost here)',
		    `${fmt(c.pct)} + ${fmt(st)} = ${fmt(c.pct + st)} %`,
		    undefined);
}
p();

// The targets marked no, each with the measurement of this run that says
// whether herenow can meet it here at all: what the same lighttpd setup
// with a minimal backend (the floor) already costs.
{
	const why = [];
	const pp = (a, b) => pairedP99(`${a}|8000`, `${b}|8000`);
	// lighttpd's CPU from the join to the last reader's update, run by
	// run: one thread relays every event, so no backend gets the last
	// reader its update sooner.
	const relayMs = (k) => {
		const r = bench.get(k);
		if (!r)
			return NaN;
		return median([...r.values()].map((ls) => 1000 *
		    (roleSum(ls, 'lighttpd', 'broadcast', 'cpu_s') -
		    roleSum(ls, 'lighttpd', 'join', 'cpu_s'))));
	};
	const lh = relayMs('herenow|1|sse|8000');
	// Runs where lighttpd's relaying alone took longer than 0.8 x
	// nchan's p99 of the same run: the target out of any backend's reach.
	let over = 0, both = 0;
	{
		const rh = bench.get('herenow|1|sse|8000');
		const rx = bench.get('nchan|1|sse|8000');
		for (const [run, ls] of rh ?? []) {
			const relay = 1000 *
			    (roleSum(ls, 'lighttpd', 'broadcast', 'cpu_s') -
			    roleSum(ls, 'lighttpd', 'join', 'cpu_s'));
			const x = rx?.has(run) ? p99Of(rx.get(run)) : NaN;
			if (!Number.isFinite(relay) || !Number.isFinite(x))
				continue;
			both++;
			if (relay > 0.8 * x)
				over++;
		}
	}
	const hs = get('herenow', '1', 'sse'), xs = get('nchan', '1', 'sse');
	const fx = pp('floor|1|sse', 'nchan|1|sse');
	const hx = pp('herenow|1|sse', 'nchan|1|sse');
	if (Number.isFinite(hx) && hx > 0.8)
		why.push('SSE p99 ≤ 0.8 × nchan\'s: lighttpd with the bare ' +
		    `floor behind it is ${fmt(fx, 2)}× nchan's p99 in this run, ` +
		    `and herenow ${fmt(pp('herenow|1|sse', 'floor|1|sse'), 2)}× ` +
		    'the floor.  What is left is lighttpd relaying each event ' +
		    '(for every reader an ioctl FIONREAD and a read on the ' +
		    'backend\'s socket and a writev to the reader\'s, on one ' +
		    'thread) where nginx makes one writev' +
		    (Number.isFinite(lh) && hs ? ': lighttpd spent ' +
		    `${fmt(lh, 0)} ms of CPU on herenow's one update to 8,000 ` +
		    'readers (median of the runs, from /proc in ticks of ' +
		    '10 ms), which no backend behind it can beat, and ' +
		    `herenow's p99 is ${fmt(hs.p99, 0)} ms` +
		    (xs ? `; 0.8 × nchan's is ${fmt(0.8 * xs.p99, 0)} ms` : '') +
		    '.' : '.') +
		    (both > 0 ? `  In ${over} of ${both} runs lighttpd's ` +
		    'relaying alone took longer than 0.8 × nchan\'s p99 of ' +
		    'the same run' + (over === both ? ': no backend behind ' +
		    'this lighttpd meets the target on this machine.' :
		    (over > 0 ? '.' : ': the target is within a backend\'s ' +
		    'reach here.')) : ''));
	const fw = pp('floor|1|wst', 'nchan|1|ws');
	if (Number.isFinite(fw) && fw > 1)
		why.push('WebSocket p99 ≤ nchan\'s: through mod_wstunnel the ' +
		    `bare floor is already ${fmt(fw, 2)}× nchan's p99 (herenow ` +
		    `${fmt(pp('herenow|1|wst', 'floor|1|wst'), 2)}× the ` +
		    'floor).  lighttpd 1.4.74 and later let herenow speak ' +
		    'WebSocket over FastCGI without the tunnel; Debian 12 has ' +
		    '1.4.69.');
	const fm = pairedMem('floor|1|wst', 'nchan|1|ws');
	if (Number.isFinite(fm) && fm > 0.6)
		why.push('WebSocket memory ≤ 0.6 × nchan\'s: lighttpd with the ' +
		    'bare floor behind the same mod_wstunnel holds 8,000 ' +
		    `readers in ${fmt(fm, 2)}× nchan's memory, almost all of ` +
		    'it lighttpd\'s.');
	const fc = C['floor|1|floor'], st = T['1|hn-store'];
	if (fc && Number.isFinite(st) && fc.pct + st > 10)
		why.push('Churn ≤ 10 % of a core: the bare floor, which only ' +
		    'accepts the readers and writes the broadcasts, uses ' +
		    `${fmt(fc.pct)} %; herenow does that too, and its store ` +
		    'thread alone, committing every join and leave to the ' +
		    'shared table (DESIGN §5), adds ' +
		    `${fmt(st)} % (${fmt(fc.pct + st)} % together, before ` +
		    'herenow watches a single socket for its reader leaving).');
	if (why.length > 0) {
		p('## The targets not met, and what this run says of them');
		p();
		why.forEach((w) => p(`- ${w}`));
		p();
	}
}
p(`Raw results: \`bench/results/${file.replace(/.*\//, '')}\` ` +
    '(bench/run\'s output; `node bench/report.mjs FILE` makes this page ' +
    'again).');
console.log(out.join('\n'));
