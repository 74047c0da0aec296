"""Reading a camera card: which mounted volumes are cards (detect), what is on them (scan),
when each photo was taken (capture), and waiting for one to be inserted (watch)."""
