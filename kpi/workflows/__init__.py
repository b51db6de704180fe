"""Workflows that write: savings initiatives, quarterly goals, definition edits, approvals."""
