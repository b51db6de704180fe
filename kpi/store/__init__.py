"""The store: the DuckDB file, the canonical tables, the curated views and the query texts."""
