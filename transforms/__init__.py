"""Pure transformations: log lines and Server API JSON in, typed polars DataFrames out. No I/O here."""
