"""Work on an archive after ingest: keywords (tag) and de-identified copies (share)."""
