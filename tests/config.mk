# The configuration test: config.c, config_section.c, envexpand.c and cidr.c built on their own,
# with the fixture conf dirs and the shipped conf.d read from the source tree.
check_PROGRAMS += tests/check_config
tests_check_config_SOURCES = tests/check_config.c core/config.c core/config.h core/buf.c core/buf.h \
	core/config_section.c core/config_section.h core/envexpand.c core/cidr.c core/url.c core/url.h
tests_check_config_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) $(LIBCONFIG_CFLAGS) -I$(top_srcdir)/core \
	-DCM_TEST_SRCDIR='"$(abs_top_srcdir)"'
tests_check_config_LDADD = $(CHECK_LIBS) $(LIBCONFIG_LIBS)
TESTS += tests/check_config
