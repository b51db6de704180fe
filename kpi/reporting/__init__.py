"""Reporting: charts, page presenters and the meeting pack, built from analyses' frames."""
