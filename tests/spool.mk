# The event model, its JSON form, its merging and its ref index (core/intake/event*), and the
# hex check it uses.
CM_EVENT_MORE = core/intake/event_index.c core/intake/event_index.h core/util/keyed_hash.c \
	core/util/keyed_hash.h core/intake/event_json.c \
	core/intake/event_merge.c core/util/hex.c core/util/hex.h

# The spool (core/queue/spool*.c), tested on its own sources so it needs nothing else of the core.
SPOOL_SOURCES = core/queue/spool.c core/queue/spool_append.c core/queue/spool_claim.c \
	core/queue/spool_index.c core/queue/spool_state.h core/queue/spool_journal.c \
	core/queue/spool_journal.h core/queue/spool_util.c \
	core/queue/spool_util.h core/util/deadline.c core/util/deadline.h core/queue/queue.c core/queue/queue.h core/intake/event.c core/intake/event.h $(CM_EVENT_MORE) core/util/fsutil.c \
	core/util/fsutil.h core/util/buf.c core/util/buf.h

check_PROGRAMS += tests/check_spool
tests_check_spool_SOURCES = tests/check_spool.c tests/test_paths.h $(SPOOL_SOURCES)
tests_check_spool_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) $(JANSSON_CFLAGS) -I$(top_srcdir)/tests \
	-I$(top_srcdir)/core
tests_check_spool_LDADD = $(CHECK_LIBS) $(JANSSON_LIBS) -lpthread
TESTS += tests/check_spool

# Group commit against one fdatasync per append; built by `make check`, run by hand
# (bench/README.md).
check_PROGRAMS += bench/spool_bench
bench_spool_bench_SOURCES = bench/spool_bench.c $(SPOOL_SOURCES)
bench_spool_bench_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS) -I$(top_srcdir)/core
bench_spool_bench_LDADD = $(JANSSON_LIBS) -lpthread

# A spool of N pending entries for bench/restart.sh (bench/README.md).
check_PROGRAMS += bench/spool_fill
bench_spool_fill_SOURCES = bench/spool_fill.c $(SPOOL_SOURCES)
bench_spool_fill_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS) -I$(top_srcdir)/core
bench_spool_fill_LDADD = $(JANSSON_LIBS) -lpthread
EXTRA_DIST += bench/restart.sh

# Coalescing many refs: the merge before and after its ref index (bench/README.md).
check_PROGRAMS += bench/merge_bench
bench_merge_bench_SOURCES = bench/merge_bench.c core/intake/event.c core/intake/event.h $(CM_EVENT_MORE)
bench_merge_bench_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS) -I$(top_srcdir)/core
bench_merge_bench_LDADD = $(JANSSON_LIBS) -lpthread
# libmicrohttpd answering 202 with no work: the server library's ceiling, beside the gateway in
# bench/intake.sh.
check_PROGRAMS += bench/mhd_floor
bench_mhd_floor_SOURCES = bench/mhd_floor.c
bench_mhd_floor_CFLAGS = $(AM_CFLAGS) $(MHD_CFLAGS)
bench_mhd_floor_LDADD = $(MHD_LIBS) -lpthread

# The PostgreSQL queue against a real server the test starts (tests/pg_server.sh); skips (77)
# where the server is not installed.
check_PROGRAMS += tests/check_pg_queue
tests_check_pg_queue_SOURCES = tests/check_pg_queue.c tests/test_paths.h
tests_check_pg_queue_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) $(JANSSON_CFLAGS) $(PQ_CFLAGS) \
	-I$(top_srcdir)/tests -I$(top_srcdir)/core
tests_check_pg_queue_LDADD = core/libcargoman-core.la $(CHECK_LIBS) $(PQ_LIBS) -lpthread
TESTS += tests/check_pg_queue
EXTRA_DIST += tests/pg_server.sh
