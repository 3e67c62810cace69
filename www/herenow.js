/*
 * herenow.js: shows how many people are reading this page now.
 * First version: one Server-Sent Events stream per tab; the count of readers
 * (distinct browsers) goes into every element with a data-herenow attribute
 * (data-herenow="tabs": open tabs; data-herenow="site": readers on the whole
 * site).  Include with
 *
 *	<script src="/herenow/herenow.js" defer></script>
 *	<span data-herenow></span> reading now
 *
 * The endpoints are looked for beside this script (/herenow/sse).  Every
 * count also fires a "herenow:count" event on document, its detail the
 * message: {type, page, readers, tabs, site}.
 */
(function () {
	'use strict';

	if (typeof window.EventSource !== 'function')
		return;

	var KEY = 'herenow.visitor';
	var ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz' +
	    '0123456789-_';

	// The endpoints live in the script's own directory, wherever the
	// operator put the prefix.
	function prefix() {
		var s = document.currentScript;
		if (s && s.src)
			return new URL('.', s.src).href;
		return '/herenow/';
	}

	function randomId() {
		var bytes = new Uint8Array(22), id = '', i;
		if (window.crypto && window.crypto.getRandomValues)
			window.crypto.getRandomValues(bytes);
		else
			for (i = 0; i < bytes.length; i++)
				bytes[i] = Math.floor(Math.random() * 256);
		for (i = 0; i < bytes.length; i++)
			id += ALPHABET.charAt(bytes[i] & 63);
		return id;
	}

	// One random id per browser, so that two tabs count as one reader.
	// Without storage (private mode, blocked) each tab is its own reader.
	function visitor() {
		var id = null;
		try {
			id = window.localStorage.getItem(KEY);
		} catch (e) {
			/* storage refused */
		}
		if (id && /^[A-Za-z0-9_-]{1,64}$/.test(id))
			return id;
		id = randomId();
		try {
			window.localStorage.setItem(KEY, id);
		} catch (e) {
			/* storage refused: this tab keeps its own id */
		}
		return id;
	}

	// data-herenow (empty or "readers"): readers; "tabs" and "site" pick
	// the other numbers.
	function render(count) {
		var els = document.querySelectorAll('[data-herenow]');
		for (var i = 0; i < els.length; i++) {
			var what = els[i].getAttribute('data-herenow');
			var n = what === 'tabs' ? count.tabs :
			    what === 'site' ? count.site : count.readers;
			if (typeof n === 'number')
				els[i].textContent = String(n);
		}
		var ev;
		try {
			ev = new CustomEvent('herenow:count', { detail: count });
		} catch (e) {
			return;
		}
		document.dispatchEvent(ev);
	}

	var url = prefix() + 'sse?page=' +
	    encodeURIComponent(window.location.pathname) +
	    '&visitor=' + encodeURIComponent(visitor());

	// EventSource reconnects by itself (after the server's retry:), and
	// the server's leave grace keeps a quick reconnect from changing the
	// count.
	var es = new EventSource(url);
	es.addEventListener('count', function (ev) {
		var count;
		try {
			count = JSON.parse(ev.data);
		} catch (e) {
			return;
		}
		if (count && count.type === 'count' &&
		    typeof count.readers === 'number')
			render(count);
	});
})();
