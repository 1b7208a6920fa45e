# GitHub reads its payload through the host's json_* services: no jansson of its own.
provider_LTLIBRARIES += providers/github/github.la
providers_github_github_la_SOURCES = providers/github/github.c $(PROVIDER_BASE_SOURCES)
providers_github_github_la_CFLAGS = $(AM_CFLAGS) $(PROVIDER_COMMON_CFLAGS)
providers_github_github_la_LDFLAGS = $(PLUGIN_LDFLAGS)
