"""One module per job: parameters -> read -> compute -> write one result folder."""
