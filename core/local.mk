# The daemon: a convenience library of the core modules, linked by cargoman and the tests.
noinst_LTLIBRARIES += core/libcargoman-core.la
core_libcargoman_core_la_SOURCES = \
	core/buf.c core/buf.h \
	core/cidr.c \
	core/config.c core/config.h \
	core/config_section.c core/config_section.h \
	core/crypto.c core/crypto.h \
	core/daemon.c core/daemon.h \
	core/dispatch.c core/dispatch.h \
	core/envexpand.c \
	core/fetch_url.c core/fetch_url.h \
	core/fsutil.c core/fsutil.h \
	core/event.c core/event.h \
	core/exposure.c core/exposure.h \
	core/gateway.c core/gateway.h \
	core/host.c \
	core/http.c core/http.h core/http_guard.c core/http_guard.h \
	core/known_hosts.c core/known_hosts.h \
	core/loader.c core/loader.h \
	core/log.c core/log.h \
	core/metrics.c core/metrics.h \
	core/newrepo.c core/newrepo.h \
	core/mirror.c core/mirror.h core/mirror_url.c core/mirror_url.h \
	core/notes.c core/notes.h \
	core/queue.c core/queue.h \
	core/repo_name.c core/repo_name.h \
	core/request.c core/request.h \
	core/url.c core/url.h \
	core/spool.c core/spool_journal.c core/spool_journal.h \
	core/spool_util.c core/spool_util.h \
	core/status.c core/status.h \
	core/worker.c core/worker.h \
	core/zip.c core/zip.h
core_libcargoman_core_la_CFLAGS = $(AM_CFLAGS) $(MHD_CFLAGS) $(GIT2_CFLAGS) $(JANSSON_CFLAGS) \
	$(CRYPTO_CFLAGS) $(LIBCONFIG_CFLAGS) $(ARCHIVE_CFLAGS)
core_libcargoman_core_la_LIBADD = $(MHD_LIBS) $(GIT2_LIBS) $(JANSSON_LIBS) $(CRYPTO_LIBS) \
	$(LIBCONFIG_LIBS) $(ARCHIVE_LIBS) -lpthread

bin_PROGRAMS += cargoman
cargoman_SOURCES = core/main.c core/cli.h core/cli_serve.c core/cli_tools.c
cargoman_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
cargoman_LDADD = core/libcargoman-core.la
