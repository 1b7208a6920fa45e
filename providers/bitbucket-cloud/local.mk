# providers/bitbucket-cloud: built by its owner; see providers/github/local.mk for the shape
