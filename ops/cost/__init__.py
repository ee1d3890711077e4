"""The plan's monthly cost: the price table, the estimate, the change against a base plan (README, Cost)."""
