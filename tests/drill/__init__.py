"""The restore drill's real processes: an S3-compatible server on loopback and a PostgreSQL cluster."""
