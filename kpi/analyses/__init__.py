"""Analyses over the store: spend, suppliers, payment terms, inventory, savings, scorecard."""
