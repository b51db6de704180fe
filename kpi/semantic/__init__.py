"""The semantic layer: KPI definitions, the formula guard, the compiler and the engine."""
