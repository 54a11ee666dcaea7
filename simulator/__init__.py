"""A local stand-in for the Fingerprint Server API, deterministic and fault-injectable, spoken to over HTTP."""
