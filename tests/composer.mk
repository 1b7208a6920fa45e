# Tests of the composer sync plugin (include from tests/local.mk). Both programs compile the
# plugin's sources in; check_composer_index drives it through its descriptor with a fake host
# whose digest and write_file are the core's own (util/), hence the core library.
# The PHP oracle cases need php-cli and Composer's libraries (Debian package "composer"); they
# print a SKIP line naming what did not run, and check does not count those as passed.
COMPOSER_TEST_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) $(JANSSON_CFLAGS) \
	-I$(top_srcdir)/plugins/composer -I$(top_srcdir)/tests \
	-DCMC_FIXTURES='"$(abs_top_srcdir)/tests/fixtures/composer"'

check_PROGRAMS += tests/check_composer_version
tests_check_composer_version_SOURCES = tests/check_composer_version.c \
	plugins/composer/version.c plugins/composer/vcs.c plugins/composer/version.h
tests_check_composer_version_CFLAGS = $(COMPOSER_TEST_CFLAGS)
tests_check_composer_version_LDADD = $(CHECK_LIBS) $(JANSSON_LIBS)
TESTS += tests/check_composer_version

check_PROGRAMS += tests/check_composer_index
tests_check_composer_index_SOURCES = tests/check_composer_index.c tests/composer_fake_host.c \
	tests/composer_fake_host.h $(COMPOSER_PLUGIN_SOURCES)
tests_check_composer_index_CFLAGS = $(COMPOSER_TEST_CFLAGS) -I$(top_srcdir)/core
tests_check_composer_index_LDADD = core/libcargoman-core.la $(CHECK_LIBS) $(JANSSON_LIBS) -lpthread
TESTS += tests/check_composer_index


check_PROGRAMS += tests/check_composer_p2
tests_check_composer_p2_SOURCES = tests/check_composer_p2.c tests/composer_fake_host.c \
	tests/composer_fake_host.h $(COMPOSER_PLUGIN_SOURCES)
tests_check_composer_p2_CFLAGS = $(COMPOSER_TEST_CFLAGS) -I$(top_srcdir)/core
tests_check_composer_p2_LDADD = core/libcargoman-core.la $(CHECK_LIBS) $(JANSSON_LIBS) -lpthread
TESTS += tests/check_composer_p2

# What zip requests look up (published.c): answers, never stale, an unchanged file not re-read.
check_PROGRAMS += tests/check_composer_published
tests_check_composer_published_SOURCES = tests/check_composer_published.c \
	tests/composer_fake_host.c tests/composer_fake_host.h $(COMPOSER_PLUGIN_SOURCES)
tests_check_composer_published_CFLAGS = $(COMPOSER_TEST_CFLAGS) -I$(top_srcdir)/core
tests_check_composer_published_LDADD = core/libcargoman-core.la $(CHECK_LIBS) $(JANSSON_LIBS) -lpthread
TESTS += tests/check_composer_published
