/*
 * herenow: mode detection (FastCGI on fd 0, FastCGI on --listen, or a
 * maintenance command), arguments and configuration.  Thin on purpose.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <netdb.h>
#include <unistd.h>

#include "app.h"

#define ACCEPTOR_THREADS	4

extern char	**environ;

static void
usage(void)
{
	fprintf(stderr,
	    "usage: herenow [--config FILE] [--listen unix:PATH|HOST:PORT] "
	    "[-d]\n"
	    "       herenow --tunnel [--config FILE]\n"
	    "       herenow top [--db PATH] [--once] [--config FILE]\n"
	    "       herenow --check-config [--config FILE]\n"
	    "       herenow --version\n"
	    "Started by lighttpd (fastcgi.server with bin-path), herenow "
	    "serves the\nlistening socket on fd 0; with --tunnel "
	    "(wstunnel.server with bin-path) it\nserves mod_wstunnel there; "
	    "started as a CGI program, one request.\n");
	exit(2);
}

/* 1 when fd 0 is a listening socket: lighttpd's bin-path start. */
static int
stdin_is_listener(void)
{
	int		 v = 0;
	socklen_t	 len = sizeof(v);

	if (getsockopt(0, SOL_SOCKET, SO_ACCEPTCONN, &v, &len) != 0)
		return 0;
	return v != 0;
}

/* The configuration file: --config, HERENOW_CONFIG, or herenow.conf next
 * to the binary when there is one; none means built-in defaults. */
static const char *
config_path(const char *arg, char *buf, size_t bufsz)
{
	const char	*env;
	char		*slash;
	ssize_t		 n;

	if (arg != NULL)
		return arg;
	if ((env = getenv("HERENOW_CONFIG")) != NULL && *env != '\0')
		return env;
	n = readlink("/proc/self/exe", buf, bufsz - 1);
	if (n <= 0)
		return NULL;
	buf[n] = '\0';
	if ((slash = strrchr(buf, '/')) == NULL ||
	    (size_t)(slash - buf) + sizeof("/herenow.conf") > bufsz)
		return NULL;
	strcpy(slash, "/herenow.conf");
	return access(buf, R_OK) == 0 ? buf : NULL;
}

/*
 * SQLite says "unable to open database file" whatever kept it from the
 * file: the operator reading lighttpd's error log wants to know which of a
 * missing directory, a permission or a read-only file system it was.
 * Writes " (reason)", or nothing when the file looks usable (a corrupt
 * file, for one, says so itself).  access() checks the real ids, which
 * are ours: herenow is never setuid.
 */
static void
db_why(const char *db, char *buf, size_t bufsz)
{
	char	 dir[PATH_MAX];
	char	*slash;

	buf[0] = '\0';
	if (strlen(db) >= sizeof(dir) || strcmp(db, ":memory:") == 0)
		return;
	strcpy(dir, db);
	if ((slash = strrchr(dir, '/')) == NULL)
		strcpy(dir, ".");
	else if (slash == dir)
		slash[1] = '\0';
	else
		*slash = '\0';
	if (access(dir, X_OK) != 0) {
		snprintf(buf, bufsz, " (directory %s: %s)", dir,
		    strerror(errno));
	} else if (access(db, F_OK) == 0) {
		if (access(db, R_OK | W_OK) != 0)
			snprintf(buf, bufsz, " (%s)", strerror(errno));
	} else if (errno == ENOENT && access(dir, W_OK) != 0) {
		snprintf(buf, bufsz, " (cannot create it in %s: %s)", dir,
		    strerror(errno));
	}
}

/*
 * A listening socket for tunnel_listen: "unix:PATH" or "HOST:PORT".  With
 * several FastCGI processes (max-procs) on one unix path the first to
 * bind serves the tunnel: a live socket is left alone (returns -2), a
 * stale one replaced.  TCP sockets share the port (SO_REUSEPORT).
 */
static int
listen_spec(const char *spec)
{
	struct sockaddr_un	 sun;
	struct addrinfo		 hints, *res, *ai;
	char			 host[256];
	const char		*colon;
	int			 fd = -1, one = 1;

	if (strncmp(spec, "unix:", 5) == 0) {
		memset(&sun, 0, sizeof(sun));
		sun.sun_family = AF_UNIX;
		if (strlen(spec + 5) >= sizeof(sun.sun_path))
			return -1;
		strcpy(sun.sun_path, spec + 5);
		if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
			return -1;
		if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
			if (errno != EADDRINUSE)
				goto fail;
			if (connect(fd, (struct sockaddr *)&sun,
			    sizeof(sun)) == 0) {
				close(fd);
				return -2;
			}
			close(fd);
			unlink(sun.sun_path);
			if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC,
			    0)) < 0 || bind(fd, (struct sockaddr *)&sun,
			    sizeof(sun)) < 0)
				goto fail;
		}
		if (listen(fd, 1024) < 0)
			goto fail;
		return fd;
	}
	if ((colon = strrchr(spec, ':')) == NULL ||
	    (size_t)(colon - spec) >= sizeof(host))
		return -1;
	memcpy(host, spec, colon - spec);
	host[colon - spec] = '\0';
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	if (getaddrinfo(host[0] ? host : NULL, colon + 1, &hints, &res) != 0)
		return -1;
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		if ((fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
		    ai->ai_protocol)) < 0)
			continue;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
		    listen(fd, 1024) == 0)
			break;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
fail:
	if (fd >= 0)
		close(fd);
	return -1;
}

int
main(int argc, char *argv[])
{
	struct hn_config	 cfg;
	struct hn_app		*app;
	struct hn_fcgi		*fcgi = NULL;
	const char		*conf_arg = NULL, *listen_arg = NULL, *path;
	char			 pathbuf[PATH_MAX], err[512], why[PATH_MAX + 64];
	bool			 check = false, tunnel = false, top = false;
	bool			 once = false;
	const char		*db_arg = NULL;
	int			 i, debug = 0, lfd;
	sigset_t		 block;

	i = 1;
	if (argc > 1 && strcmp(argv[1], "top") == 0) {
		top = true;
		i = 2;
	}
	for (; i < argc; i++) {
		if (top && strcmp(argv[i], "--once") == 0) {
			once = true;
		} else if (top && strcmp(argv[i], "--db") == 0 && i + 1 < argc) {
			db_arg = argv[++i];
		} else if (strcmp(argv[i], "--version") == 0) {
			printf("herenow %s\n", PACKAGE_VERSION);
			return 0;
		} else if (strcmp(argv[i], "--tunnel") == 0) {
			tunnel = true;
		} else if (strcmp(argv[i], "--check-config") == 0) {
			check = true;
		} else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
			conf_arg = argv[++i];
		} else if (strcmp(argv[i], "--listen") == 0 && i + 1 < argc) {
			listen_arg = argv[++i];
		} else if (strcmp(argv[i], "-d") == 0) {
			debug = 1;
		} else {
			usage();
		}
	}
	hn_log_init("herenow", debug);

	hn_config_defaults(&cfg);
	path = config_path(conf_arg, pathbuf, sizeof(pathbuf));
	/* The message names the file and the line already. */
	if (path != NULL && hn_config_load(&cfg, path, err, sizeof(err)) < 0) {
		fprintf(stderr, "herenow: %s\n", err);
		return 2;
	}
	if (hn_config_env(&cfg, environ, err, sizeof(err)) < 0 ||
	    hn_config_check(&cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "herenow: %s\n", err);
		return 2;
	}
	if (top) {
		if (db_arg != NULL &&
		    hn_config_set(&cfg, "db", db_arg, err, sizeof(err)) < 0) {
			fprintf(stderr, "herenow: %s\n", err);
			return 2;
		}
		return hn_top_run(&cfg, once);
	}
	if (check) {
		printf("herenow: configuration %s is valid\n",
		    path != NULL ? path : "(built-in defaults)");
		return 0;
	}

	/* Before any thread starts: SIGPIPE ignored everywhere (FCGX_Init
	 * puts libfcgi's handler over it: hn_fcgi_start ignores it again),
	 * the stop signals blocked everywhere (the loop lets them in while
	 * it waits). */
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &block, NULL);

	if (listen_arg != NULL) {
		if ((lfd = hn_fcgi_listen(listen_arg)) < 0) {
			fprintf(stderr, "herenow: cannot listen on %s\n",
			    listen_arg);
			return 1;
		}
	} else if (stdin_is_listener()) {
		lfd = 0;
	} else if (!tunnel && getenv("GATEWAY_INTERFACE") != NULL) {
		return hn_cgi_run(&cfg);
	} else {
		fprintf(stderr, "herenow: fd 0 is not a listening socket and "
		    "this is no CGI request: start herenow from lighttpd "
		    "(fastcgi.server or wstunnel.server with bin-path, or "
		    "mod_cgi), or with --listen\n");
		return 1;
	}

	if ((app = hn_app_new(&cfg, err, sizeof(err))) == NULL) {
		db_why(cfg.db, why, sizeof(why));
		log_warnx("cannot start: %s%s", err, why);
		return 1;
	}
	if (tunnel) {
		/* wstunnel.server's bin-path: the socket is the tunnel's. */
		if (hn_app_listen_tunnel(app, lfd) < 0) {
			log_warn("cannot serve the tunnel");
			hn_app_free(app);
			return 1;
		}
	} else {
		if (cfg.tunnel_listen[0] != '\0') {
			int tfd = listen_spec(cfg.tunnel_listen);
			if (tfd == -1) {
				log_warn("tunnel_listen %s", cfg.tunnel_listen);
				hn_app_free(app);
				return 1;
			}
			if (tfd >= 0 && hn_app_listen_tunnel(app, tfd) < 0) {
				log_warn("cannot serve the tunnel");
				hn_app_free(app);
				return 1;
			}
			if (tfd == -2)
				log_debug("tunnel_listen %s is served by "
				    "another process", cfg.tunnel_listen);
		}
		if ((fcgi = hn_fcgi_start(app, lfd, ACCEPTOR_THREADS, err,
		    sizeof(err))) == NULL) {
			log_warnx("cannot start: %s", err);
			hn_app_free(app);
			return 1;
		}
	}
	log_info("serving (pid %d, db %s)", (int)getpid(), cfg.db);
	hn_app_run(app);
	hn_fcgi_stop(fcgi);
	hn_app_free(app);
	log_info("stopped");
	return 0;
}
