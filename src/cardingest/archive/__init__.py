"""The archive's records: its lock, catalogue, manifests, audit log, XMP sidecars, and the
checks (verify) and repairs of the copies they describe."""
