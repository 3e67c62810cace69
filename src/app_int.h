/*
 * What app.c (threads, queues, life cycle) and stream.c (held streams)
 * share.  Nothing outside those two files includes this.
 */
#ifndef HN_APP_INT_H
#define HN_APP_INT_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>

#include "app.h"

#define APP_QUEUE_SLOTS		8	/* buffers queued for one stream */

/* An encoded output buffer shared by every reader it goes to; only the
 * loop thread touches the reference count. */
struct obuf {
	int		 refs;
	uint16_t	 reqid;
	size_t		 len;
	unsigned char	 data[];
};

struct qslot {
	struct obuf	*buf;
	size_t		 off;
};

struct stream {
	struct stream		*prev, *next;	/* app->streams */
	struct hn_app		*app;
	int			 in_fd, out_fd;
	uint16_t		 reqid;
	uint8_t			 transport;	/* enum hn_transport */
	bool			 fcgi;		/* records both ways */
	bool			 fcgi_lost;	/* input no longer parsed */
	bool			 hello;		/* knows its page/visitor */
	bool			 hello_due;	/* no hello by the next ping */
	bool			 joined;	/* has a session row */
	bool			 closed;
	bool			 close_sent;	/* WebSocket close frame */
	uint8_t			 pings_missed;
	int			 acks;		/* answers the store owes us */
	char			 sid[HN_SID_LEN + 1];
	char			*page;		/* joined page, or NULL */
	char			*visitor;	/* "~sid" when anonymous */
	int			 nwatch;
	char			**watch;
	struct hn_hub_client	*hc;
	struct addr_slot	*slot;		/* max_streams_per_addr */
	struct qslot		 q[APP_QUEUE_SLOTS];
	int			 qhead, qlen;
	size_t			 qbytes;
	struct hn_fcgi_parser	 fp;
	struct hn_ws_parser	 wp;
	unsigned char		*in;		/* unparsed input, or NULL */
	size_t			 in_len;
};

/* loop -> store thread: an op to commit, and/or a stream to answer with
 * the counts of pages (copied here, so the stream may change meanwhile). */
struct sync_wait {
	pthread_mutex_t	 mu;
	pthread_cond_t	 cv;
	bool		 done;
	int		 rc;
	int		 refs;		/* the waiter and the request; under mu */
};
struct sreq {
	struct sreq	*next;
	struct hn_op	 op;		/* kind 0: nothing to write */
	struct sync_wait *wait;		/* an acceptor waits for the commit */
	struct stream	*ack;
	int		 npages;
	char		 pages[][HN_PAGE_MAX + 1];
};

/* store thread -> loop (RES_REFUSED: an ACK whose join was refused) */
enum { RES_SITE, RES_COUNT, RES_ACK, RES_REFUSED };
struct sres {
	struct sres	*next;
	int		 kind;
	long		 readers, tabs;
	struct stream	*stream;
	char		 page[];
};

/* max_streams_per_addr: held streams of one client address key. */
struct addr_slot {
	struct addr_slot	*next;
	unsigned		 count;
	char			 key[];
};
#define APP_ADDR_BUCKETS	1024

/* Allocated only as far as h's watch slots in use (HN_HANDOFF_SIZE). */
struct hand_node {
	struct hand_node	*next;
	struct hn_handoff	 h;
};

struct hn_app {
	struct hn_config	 cfg;
	struct hn_loop		*loop;
	struct hn_hub		*hub;
	struct stream		*streams;
	struct stream		*dead;		/* closed, freed after the round */
	atomic_uint		 nstreams;
	sigset_t		 waitmask;	/* in force while the loop waits */
	int			 hub_timer;
	int			 sse_timer;
	int64_t			 sse_ping_ms;	/* sse_heartbeat, 1 s for CGI */
	int			 tunnel_fd;	/* listening, or -1 */
	bool			 exit_when_idle;
	bool			 had_stream;

	/* held streams by client address (acceptors take, the loop
	 * releases) */
	pthread_mutex_t		 addr_mu;
	struct addr_slot	*addr_tab[APP_ADDR_BUCKETS];

	/* acceptors -> loop */
	pthread_mutex_t		 hand_mu;
	struct hand_node	*hand_head, **hand_tail;
	int			 hand_efd;

	/* loop -> store thread */
	pthread_t		 store_thread;
	bool			 store_started;
	pthread_mutex_t		 store_mu;
	pthread_cond_t		 store_cv;
	struct sreq		*sq_head, **sq_tail;
	bool			 store_quit;
	struct hn_store		*store;
	atomic_bool		 db_ok;
	struct hn_metrics	 metrics;

	/* store thread -> loop */
	pthread_mutex_t		 res_mu;
	struct sres		*res_head, **res_tail;
	int			 res_efd;
};

/* app.c */
void		 app_store_enqueue(struct hn_app *, struct sreq *);
/* Gives back a stream's place under max_streams_per_addr (NULL ok). */
void		 app_addr_release(struct hn_app *, struct addr_slot *);

/* stream.c */
void		 stream_open(struct hn_app *, const struct hn_handoff *);
/* Ends a stream; with normal the response is ended properly (a WebSocket
 * gets a close frame with ws_code first). */
void		 stream_close(struct stream *, bool normal, uint16_t ws_code);
/* Frees the streams closed during this round of the loop. */
void		 stream_reap(struct hn_app *);
/* The store thread has answered a request of st; with refused its join
 * was refused (max_sessions_per_visitor). */
void		 stream_acked(struct stream *, bool refused);
void		 stream_deliver(void *arg, void *ctx, struct hn_bcast *);
void		 stream_release(void *arg, struct hn_bcast *);
int64_t		 stream_sse_ping(struct hn_loop *, int64_t now, void *arg);
int64_t		 stream_ws_ping(struct hn_loop *, int64_t now, void *arg);
void		 stream_on_tunnel(struct hn_loop *, int fd, int events,
		    void *arg);

#endif /* HN_APP_INT_H */
