"""The scenarios, in the order they run: each appends its results to the Bench."""
