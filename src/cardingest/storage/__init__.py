"""Durable writes and verified copies: the file-system layer every other package writes through."""
