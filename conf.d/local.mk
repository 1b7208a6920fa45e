# conf.d: the shipped configuration, installed to $(sysconfdir)/cargoman/conf.d.
dist_confd_DATA += conf.d/00-server.conf conf.d/10-bitbucket-cloud.conf \
	conf.d/20-bitbucket-datacenter.conf conf.d/30-github.conf conf.d/40-gitlab.conf \
	conf.d/90-sync.conf
