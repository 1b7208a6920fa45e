provider_LTLIBRARIES += providers/gitlab/gitlab.la
providers_gitlab_gitlab_la_SOURCES = providers/gitlab/gitlab.c $(PROVIDER_COMMON_SOURCES)
providers_gitlab_gitlab_la_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS) $(PROVIDER_COMMON_CFLAGS)
providers_gitlab_gitlab_la_LIBADD = $(JANSSON_LIBS)
providers_gitlab_gitlab_la_LDFLAGS = $(PLUGIN_LDFLAGS)
