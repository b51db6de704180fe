"""Streamlit AppTest tests: every page run headless against a small store."""
