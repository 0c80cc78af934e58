"""The reference shared 託送 database: for the demo, tests and benchmarks only."""
