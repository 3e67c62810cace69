/*
 * The application: what main, the FastCGI acceptors and the event loop
 * share.  Only app.c knows the struct's layout.
 */
#ifndef HN_APP_H
#define HN_APP_H

#include "hn.h"

struct hn_app;

/* A request that becomes a held stream, handed from an acceptor thread to
 * the event loop, which takes ownership of fd. */
struct hn_handoff {
	int		 fd;		/* the FastCGI connection, blocking */
	uint16_t	 reqid;
	char		 page[HN_PAGE_MAX + 1];		/* "" for watch only */
	char		 visitor[HN_VISITOR_MAX + 1];	/* "" for anonymous */
	char		 addr[64];			/* REMOTE_ADDR */
	int		 nwatch;
	char		 watch[HN_WATCH_MAX][HN_PAGE_MAX + 1];
};

/* app.c */
/* Opens the store, starts the store thread and builds the loop.
 * Returns NULL with a message in err. */
struct hn_app	*hn_app_new(const struct hn_config *, char *err, size_t errsz);
/* Runs the loop until SIGTERM/SIGINT, then closes every stream normally,
 * deletes this process's sessions and returns. */
int		 hn_app_run(struct hn_app *);
void		 hn_app_free(struct hn_app *);
const struct hn_config *hn_app_config(const struct hn_app *);
/* Called by an acceptor thread: queues h for the loop (copies it). 0, or
 * HN_ETOOBIG when the process holds max_streams already (the caller then
 * answers 503 and keeps the fd). */
int		 hn_app_handoff(struct hn_app *, const struct hn_handoff *);
/* Set by the signal handlers. */
bool		 hn_app_stopping(void);

/* fcgi_accept.c: libfcgi acceptor threads (the only file with fcgiapp.h) */
struct hn_fcgi;
/* Starts n acceptor threads on the listening socket lfd.  NULL with a
 * message in err. */
struct hn_fcgi	*hn_fcgi_start(struct hn_app *, int lfd, int n, char *err,
		    size_t errsz);
/* Stops accepting (shuts lfd down), joins the threads, frees.  NULL ok. */
void		 hn_fcgi_stop(struct hn_fcgi *);
/* Opens a listening socket for "unix:PATH" or "HOST:PORT". -1 on error. */
int		 hn_fcgi_listen(const char *spec);

#endif /* HN_APP_H */
