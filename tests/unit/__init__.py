"""Unit, pipeline and engine tests of kpi/ on small hand-computed fixtures."""
