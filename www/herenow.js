/*
 * herenow.js: live reader counts on a static page (README "The widget").
 * One stream per tab: WebSocket (ws, then wst), else SSE, else beats.
 */
(function (w, d) {
	'use strict';

	if (!w.fetch || !w.URL || !d.querySelectorAll)
		return;

	var L = w.location, H = w.history, me = d.currentScript,
	    // Endpoints are beside this script, wherever the prefix is.
	    base = new URL(me && me.src || '/herenow/herenow.js', L.href),
	    CHAIN = ['ws', 'wst', 'sse', 'beat'],
	    TKEY = 'herenow.transport', VKEY = 'herenow.visitor',
	    start = Math.max(CHAIN.indexOf(get('sessionStorage', TKEY)), 0),
	    hideAfter = dur(me && me.getAttribute('data-hidden-after'), 3e5),
	    visitor = get('localStorage', VKEY),
	    page = L.pathname, watch = [], counts = {}, last, ok = {},
	    gen = 0, cur, conn, sid, tries = 0, timer, hidTimer, asleep, dead;

	function get(area, k, v) {
		try {
			if (v === undefined)
				return w[area].getItem(k);
			w[area].setItem(k, v);
		} catch (e) {}
		return null;
	}

	// "500ms", "30s", "5m"; a bare number is seconds.
	function dur(v, dflt) {
		var m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(v || '');
		return m ? m[1] * (m[2] === 'ms' ? 1 : m[2] === 'm' ? 6e4 : 1e3) :
		    dflt;
	}

	// A path as sent (percent-encoded) and as herenow answers (decoded).
	function path(p) {
		return new URL(p, L.href).pathname;
	}
	function key(p) {
		p = path(p);
		try {
			p = decodeURIComponent(p);
		} catch (e) {}
		p = p.replace(/\/\/+/g, '/');
		return p.length > 1 ? p.replace(/\/$/, '') : p;
	}

	function endpoint(name) {
		return new URL(name, base).href;
	}

	function form(o) {
		var q = new URLSearchParams(), k;
		for (k in o)
			if (o[k] != null)
				q.set(k, o[k]);
		return q;
	}

	// A random id per browser (its tabs are one reader), no cookie.
	if (!/^[\w-]{1,64}$/.test(visitor || '')) {
		visitor = '';
		var bytes = new Uint8Array(16), i;
		if (w.crypto && w.crypto.getRandomValues)
			w.crypto.getRandomValues(bytes);
		for (i = 0; i < 16; i++)
			visitor += (256 + (bytes[i] || Math.random() * 256 | 0))
			    .toString(16).slice(1);
		get('localStorage', VKEY, visitor);
	}

	var intl = {};
	function text(a, n) {
		var loc = a.locale || '', cat = 'other', s = String(n), t, f;
		try {
			f = intl[loc] = intl[loc] || [new Intl.PluralRules(loc ||
			    undefined), new Intl.NumberFormat(loc || undefined)];
			cat = f[0].select(n);
			s = f[1].format(n);
		} catch (e) {}
		t = (n === 0 && a.zero) || a[cat] || a.other;
		return t ? t.replace(/\{n\}/g, s) : s;
	}

	// [data-herenow]: this page; [data-herenow-page]: that page.
	function render() {
		var els = d.querySelectorAll('[data-herenow],[data-herenow-page]');
		for (var i = 0; i < els.length; i++) {
			var el = els[i], a = el.dataset, f = a.herenow,
			    c = f === 'site' && !a.herenowPage ? last :
			    counts[key(a.herenowPage || page)],
			    n = c && c[f === 'tabs' || f === 'site' ? f : 'readers'];
			if (typeof n !== 'number')
				continue;
			var low = n < (+a.min || 0), s = low ? '' : text(a, n);
			el.hidden = low;
			if (el.textContent !== s)
				el.textContent = s;
		}
	}

	function take(c) {
		if (!c || c.type !== 'count' || typeof c.readers !== 'number')
			return;
		counts[c.page] = last = c;
		render();
		d.dispatchEvent(new CustomEvent('herenow:count', { detail: c }));
	}

	function parse(s) {
		try {
			return JSON.parse(s);
		} catch (e) {
			return null;
		}
	}

	// Callbacks of an older connection see gen moved, and do nothing.
	function stop() {
		gen++;
		clearTimeout(timer);
		if (conn) {
			var c = conn;
			conn = null;
			c.close();
		}
	}

	// Full jitter: 0 to 0.5 s * 2^tries, at most 30 s.
	function later(i) {
		timer = setTimeout(connect, Math.random() *
		    Math.min(3e4, 500 * Math.pow(2, tries++)), i);
	}

	// Before its first count a transport that fails passes on down the
	// chain; once it has counted, it is retried with backoff.
	function connect(i) {
		stop();
		if (dead || asleep)
			return;
		var my = gen, t = CHAIN[i], since, guard, c = conn = { close: nop };
		cur = i;
		function fail(fatal) {
			if (my !== gen)
				return;
			stop();
			if (since && Date.now() - since > 3e4)
				tries = 0;
			if (fatal)
				dead = 1;
			else if (ok[t])
				later(i);
			else if (i < 3)
				connect(i + 1);
			else
				later(start);
		}
		function got(m) {
			if (my !== gen || !m)
				return;
			if (m.type === 'error')
				return fail(/^(bad|missing)_/.test(m.code));
			if (m.type !== 'count')
				return;
			if (!since) {
				since = Date.now();
				clearTimeout(guard);
				ok[t] = 1;
				start = i;
				get('sessionStorage', TKEY, t);
				if (me)
					me.setAttribute('data-transport', t);
			}
			take(m);
		}
		function arm(ms) {
			clearTimeout(guard);
			guard = setTimeout(fail, ms);
		}
		c.close = function () {
			clearTimeout(guard);
		};
		try {
			if (i < 2)
				ws(t, c, got, fail, arm);
			else if (i < 3)
				sse(c, got, fail, arm);
			else
				beats(c, got, fail, my);
		} catch (e) {
			fail();
		}
	}

	function nop() {}

	function ws(t, c, got, fail, arm) {
		var s = new WebSocket(endpoint(t).replace(/^http/, 'ws')), buf = '',
		    close = c.close;
		// HTTP/2 and some proxies never open it.
		arm(3e3);
		c.send = function (m) {
			if (s.readyState === 1)
				s.send(JSON.stringify(m));
		};
		s.onopen = function () {
			arm(5e3);
			var m = { type: 'hello', page: page, visitor: visitor };
			if (watch.length)
				m.watch = watch;
			c.send(m);
		};
		// Several lines in a message, or (wst) part of one.
		s.onmessage = function (e) {
			var lines = (buf + e.data).split('\n');
			buf = lines.pop();
			for (var j = 0; j < lines.length; j++)
				if (lines[j])
					got(parse(lines[j]) || {});
		};
		s.onclose = function () {
			fail();
		};
		c.close = function () {
			close();
			s.onclose = s.onmessage = null;
			s.close(1000);
		};
	}

	function sse(c, got, fail, arm) {
		var q = form({ page: page, visitor: visitor }), s, close = c.close;
		if (watch.length)
			q.set('watch', watch.map(function (p) {
				return p.replace(/,/g, '%2C');
			}).join(','));
		s = new EventSource(endpoint('sse?' + q));
		// A buffering proxy holds the first event back.
		arm(5e3);
		s.addEventListener('count', function (e) {
			got(parse(e.data));
		});
		s.onerror = function () {
			fail();
		};
		c.close = function () {
			close();
			s.close();
		};
	}

	function beats(c, got, fail, my) {
		var bt;
		function peek() {
			watch.forEach(function (p) {
				fetch(endpoint('count?' + form({ page: p }))).then(
				    function (r) {
					return r.ok && r.json();
				}).then(got, nop);
			});
		}
		function beat() {
			fetch(endpoint('beat'), { method: 'POST', cache: 'no-store',
			    body: form({ page: page, visitor: visitor, sid: sid }) })
			    .then(function (r) {
				if (!r.ok)
					throw r.status;
				return r.json();
			}).then(function (m) {
				if (my !== gen)
					return;
				sid = m.sid;
				got(m);
				bt = setTimeout(beat, Math.min(Math.max(+m.next || 1e4,
				    1e3), 6e4));
				peek();
			}, function (e) {
				fail(e === 400);
			});
		}
		c.watch = peek;
		// sendBeacon still goes out while the tab closes.
		c.close = function () {
			clearTimeout(bt);
			if (sid && navigator.sendBeacon)
				navigator.sendBeacon(endpoint('leave'), form({ page: page,
				    visitor: visitor, sid: sid }));
			sid = null;
		};
		beat();
	}

	// Pages listed ([data-herenow-page], up to 50) are watched.
	function sync(moved) {
		var els = d.querySelectorAll('[data-herenow],[data-herenow-page]'),
		    mine = key(page), seen = {}, list = [], i, p;
		for (i = 0; i < els.length; i++) {
			if (!els[i].hasAttribute('aria-live'))
				els[i].setAttribute('aria-live', 'polite');
			p = els[i].getAttribute('data-herenow-page');
			if (p && key(p) !== mine && !seen[key(p)] && list.length < 50) {
				seen[key(p)] = 1;
				list.push(path(p));
			}
		}
		var changed = list.join() !== watch.join();
		watch = list;
		render();
		if (!conn || !(moved || changed))
			return;
		if (conn.send) {
			if (moved)
				conn.send({ type: 'page', page: page });
			if (changed)
				conn.send({ type: 'watch', pages: watch });
		} else if (moved || !conn.watch) {
			connect(cur);
		} else {
			conn.watch();
		}
	}

	// Single-page navigation moves the reader.
	function nav() {
		if (L.pathname !== page) {
			page = L.pathname;
			sync(1);
			if (dead && !asleep) {
				dead = 0;
				connect(start);
			}
		}
	}
	['pushState', 'replaceState'].forEach(function (k) {
		var f = H[k];
		if (f)
			H[k] = function () {
				var r = f.apply(this, arguments);
				nav();
				return r;
			};
	});
	w.addEventListener('popstate', nav);

	// Lists rendered late, or changed, are followed.
	if (w.MutationObserver) {
		var pend;
		new MutationObserver(function (recs) {
			for (var j = 0; j < recs.length; j++)
				if (recs[j].type === 'attributes' ||
				    [].some.call(recs[j].addedNodes, function (n) {
					return n.nodeType === 1;
				    })) {
					clearTimeout(pend);
					pend = setTimeout(sync, 50);
					return;
				}
		}).observe(d.documentElement, { childList: true, subtree: true,
		    attributes: true, attributeFilter: ['data-herenow',
		    'data-herenow-page'] });
	}

	w.addEventListener('pagehide', stop);
	w.addEventListener('pageshow', function (e) {
		if (e.persisted)
			connect(start);
	});

	// A tab hidden for long stops counting until it is seen again.
	function seen() {
		clearTimeout(hidTimer);
		if (d.visibilityState === 'hidden') {
			hidTimer = setTimeout(function () {
				asleep = 1;
				stop();
			}, hideAfter);
		} else if (asleep) {
			asleep = 0;
			tries = 0;
			connect(start);
		}
	}
	d.addEventListener('visibilitychange', seen);

	sync();
	connect(start);
	// Opened in a background tab: the clock runs from now.
	seen();
})(window, document);
