"""Planning, pure and free of I/O: the ID map, the names, and the plan that preview prints
and ingest executes."""
