"""The verification package: per-store suites and cross-store checks (DESIGN.md §6).

Empty in 0.1.0; `bunkatsu verify` and its checks arrive with the proof release (issue 3).
"""
