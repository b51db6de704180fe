"""The finance–procurement KPI library: store, pipelines, definitions, engine, analyses.

Pure Python; it never imports streamlit, so the command line, the app and the tests share it.
"""
