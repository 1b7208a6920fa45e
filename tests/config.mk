# The configuration test: core/config/'s parser, section.c, envexpand.c and cidr.c built on their own,
# with the fixture conf dirs and the shipped conf.d read from the source tree.
check_PROGRAMS += tests/check_config
tests_check_config_SOURCES = tests/check_config.c core/config/config.c core/config/config.h core/util/buf.c core/util/buf.h \
	core/config/parse.c core/config/parse.h core/config/settings.c core/config/endpoint.c core/config/sync_entry.c \
	core/config/section.c core/config/section.h core/config/envexpand.c core/config/cidr.c core/util/url.c core/util/url.h \
	core/util/path_glob.c core/util/path_glob.h
tests_check_config_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) $(LIBCONFIG_CFLAGS) -I$(top_srcdir)/core \
	-DCM_TEST_SRCDIR='"$(abs_top_srcdir)"'
tests_check_config_LDADD = $(CHECK_LIBS) $(LIBCONFIG_LIBS)
TESTS += tests/check_config
