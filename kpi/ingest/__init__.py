"""Ingestion: files read, mapped onto canonical tables, checked, loaded; every reject kept."""
