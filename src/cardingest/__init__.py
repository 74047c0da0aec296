"""cardingest: verified ingest of clinical photos from camera cards."""

__version__ = "0.1.0"
