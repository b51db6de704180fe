"""Constant SQL of the analyses and workflows, run with bound parameters."""
