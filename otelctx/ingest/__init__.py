"""Ingest: from decoded records to durable acknowledgements."""
