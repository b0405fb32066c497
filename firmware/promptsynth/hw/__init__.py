"""Hardware backends. Each imports its library only when it is used, so the core imports anywhere."""
