/*
 * spa.js: the demo blog's single-page navigation.  A click on a link marked
 * data-spa fetches the post and swaps <main> in place with history.pushState;
 * herenow.js notices the new URL and moves the reader (no reload).
 */
(function () {
	'use strict';

	function show(url, push) {
		return fetch(url).then(function (r) {
			if (!r.ok)
				throw new Error(r.status);
			return r.text();
		}).then(function (html) {
			var doc = new DOMParser().parseFromString(html, 'text/html');
			var main = doc.querySelector('main');
			if (!main)
				throw new Error('no <main> in ' + url);
			document.querySelector('main').replaceWith(main);
			document.title = doc.title;
			if (push)
				history.pushState(null, '', url);
		}).catch(function () {
			location.href = url;
		});
	}

	document.addEventListener('click', function (e) {
		var a = e.target.closest && e.target.closest('a[data-spa]');
		if (!a || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey)
			return;
		e.preventDefault();
		show(a.href, true);
	});
	window.addEventListener('popstate', function () {
		show(location.href, false);
	});
})();
