provider_LTLIBRARIES += providers/github/github.la
providers_github_github_la_SOURCES = providers/github/github.c $(PROVIDER_COMMON_SOURCES)
providers_github_github_la_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS) $(PROVIDER_COMMON_CFLAGS)
providers_github_github_la_LIBADD = $(JANSSON_LIBS)
providers_github_github_la_LDFLAGS = $(PLUGIN_LDFLAGS)
