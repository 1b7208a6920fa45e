# The daemon: a convenience library of the core modules, linked by cargoman and the tests.
noinst_LTLIBRARIES += core/libcargoman-core.la
core_libcargoman_core_la_SOURCES = \
	core/util/buf.c core/util/buf.h \
	core/config/cidr.c \
	core/config/config.c core/config/config.h core/config/parse.c core/config/parse.h \
	core/config/settings.c core/config/endpoint.c core/config/sync_entry.c \
	core/config/section.c core/config/section.h \
	core/util/crypto.c core/util/crypto.h \
	core/daemon.c core/daemon.h \
	core/intake/dispatch.c core/intake/dispatch.h \
	core/config/envexpand.c \
	core/intake/fetch_url.c core/intake/fetch_url.h \
	core/util/fsutil.c core/util/fsutil.h core/util/memtune.c core/util/memtune.h \
	core/intake/event.c core/intake/event.h core/intake/event_index.c core/intake/event_index.h \
	core/intake/event_json.c core/intake/event_merge.c \
	core/intake/payload_path.c core/intake/payload_path.h \
	core/config/exposure.c core/config/exposure.h \
	core/plugin/gateway.c core/plugin/gateway.h \
	core/plugin/host.c core/plugin/host.h \
	core/plugin/route.c core/plugin/route.h \
	core/plugin/shared_dir.c core/plugin/shared_dir.h \
	core/http/server.c core/http/server.h core/http/guard.c core/http/guard.h \
	core/http/respond.c core/http/respond.h core/http/plugin_route.c \
	core/http/access.c core/http/forwarded.c core/http/forwarded.h \
	core/sync/known_hosts.c core/sync/known_hosts.h \
	core/plugin/loader.c core/plugin/loader.h \
	core/ops/log.c core/ops/log.h \
	core/ops/metrics.c core/ops/metrics.h \
	core/intake/newrepo.c core/intake/newrepo.h \
	core/intake/allow_list.c core/intake/allow_list.h \
	core/util/path_glob.c core/util/path_glob.h \
	core/util/json_scan.c core/util/json_scan.h \
	core/util/keyed_hash.c core/util/keyed_hash.h core/util/deadline.c core/util/deadline.h \
	core/sync/mirror.c core/sync/mirror.h core/sync/mirror_git.h core/sync/mirror_global.c \
	core/sync/mirror_fetch.c core/sync/mirror_sync.c core/sync/mirror_read.c \
	core/sync/mirror_refdb.c core/sync/mirror_refdb.h core/sync/mirror_refbatch.c core/sync/mirror_refbatch.h \
	core/sync/mirror_archive.c core/sync/mirror_url.c core/sync/mirror_url.h \
	core/sync/notes.c core/sync/notes.h \
	core/sync/mirror_remote.c core/sync/mirror_identity.c core/sync/mirror_guard.c \
	core/sync/mirror_current.c \
	core/sync/rename.c core/sync/rename.h \
	core/sync/gone.c core/sync/gone.h \
	core/sync/reconcile.c core/sync/reconcile.h \
	core/sync/reconcile_check.c core/sync/reconcile_check.h \
	core/sync/resync.c core/sync/resync.h core/sync/rebuild.c core/sync/rebuild.h \
	core/sync/shared_state.c core/sync/shared_state.h \
	core/sync/archive_ondemand.c core/sync/archive_ondemand.h \
	core/queue/queue.c core/queue/queue.h \
	core/intake/repo_name.c core/intake/repo_name.h \
	core/intake/intake.c core/intake/intake.h core/intake/request.c core/intake/request.h \
	core/intake/form.c core/intake/form.h \
	core/intake/status_code.c core/intake/status_code.h \
	core/util/url.c core/util/url.h core/util/hex.c core/util/hex.h \
	core/queue/spool.c core/queue/spool_append.c core/queue/spool_claim.c \
	core/queue/spool_index.c core/queue/spool_state.h \
	core/queue/spool_journal.c core/queue/spool_journal.h \
	core/queue/spool_util.c core/queue/spool_util.h \
	core/queue/pg_conn.c core/queue/pg_conn.h core/queue/pg_schema.c core/queue/pg_schema.h \
	core/queue/pg_queue.c core/queue/pg_queue.h core/queue/pg_internal.h core/queue/pg_append.c \
	core/queue/pg_claim.c core/queue/pg_keeper.c \
	core/queue/pg_state.c core/queue/pg_gone.c \
	core/queue/pg_activity.c core/queue/pg_activity.h core/queue/pg_activity_internal.h \
	core/queue/pg_activity_read.c \
	core/ops/activity.c core/ops/activity.h core/ops/activity_repos.c core/ops/activity_internal.h \
	core/ops/activity_read.c \
	core/ops/delivery_log.c core/ops/delivery_log.h core/ops/dlog_index.c core/ops/dlog_index.h core/ops/dlog_text.c core/ops/dlog_text.h core/ops/payload_store.c core/ops/payload_store.h \
	core/http/api_deliveries.c core/http/api_actions.c \
	core/sync/worker.c core/sync/worker.h \
	core/sync/zip.c core/sync/zip.h core/sync/pack_stream.c core/sync/pack_stream.h
core_libcargoman_core_la_CFLAGS = $(AM_CFLAGS) -I$(top_srcdir)/core $(MHD_CFLAGS) $(GIT2_CFLAGS) $(JANSSON_CFLAGS) \
	$(CRYPTO_CFLAGS) $(LIBCONFIG_CFLAGS) $(ARCHIVE_CFLAGS) $(ZLIB_CFLAGS) $(PQ_CFLAGS)
# The build tree's cargoman finds the modules built beside it (plugin/loader.c, ld_builtin).
core_libcargoman_core_la_CPPFLAGS = $(AM_CPPFLAGS) -DCM_BUILD_DIR='"$(abs_top_builddir)"'
core_libcargoman_core_la_LIBADD = $(MHD_LIBS) $(GIT2_LIBS) $(JANSSON_LIBS) $(CRYPTO_LIBS) \
	$(LIBCONFIG_LIBS) $(ARCHIVE_LIBS) $(ZLIB_LIBS) $(PQ_LIBS) -lpthread

bin_PROGRAMS += cargoman
cargoman_SOURCES = core/cli/main.c core/cli/cli.h core/cli/serve.c core/cli/tools.c
cargoman_SOURCES += core/cli/plugin_path.c core/cli/remote.c
cargoman_SOURCES += core/cli/remote.h core/cli/import.c core/cli/db.c core/cli/composer.c \
	core/cli/conf_report.c
cargoman_CFLAGS = $(AM_CFLAGS) -I$(top_srcdir)/core $(JANSSON_CFLAGS)
cargoman_LDADD = core/libcargoman-core.la
