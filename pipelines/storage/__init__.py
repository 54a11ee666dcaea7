"""Where fetched and derived data lives: bronze landing files, the Parquet lake and the DuckDB warehouse."""
