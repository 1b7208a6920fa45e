# conf.d
