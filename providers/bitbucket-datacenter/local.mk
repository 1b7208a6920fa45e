provider_LTLIBRARIES += providers/bitbucket-datacenter/bitbucket-datacenter.la
providers_bitbucket_datacenter_bitbucket_datacenter_la_SOURCES = providers/bitbucket-datacenter/bitbucket-datacenter.c $(PROVIDER_COMMON_SOURCES)
providers_bitbucket_datacenter_bitbucket_datacenter_la_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS) $(PROVIDER_COMMON_CFLAGS)
providers_bitbucket_datacenter_bitbucket_datacenter_la_LIBADD = $(JANSSON_LIBS)
providers_bitbucket_datacenter_bitbucket_datacenter_la_LDFLAGS = $(PLUGIN_LDFLAGS)
