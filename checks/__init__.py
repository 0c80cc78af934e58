"""The verification package: what `verify`, `dry-run` and every cutover gate prove.

`runner` schedules the checks and turns their outcome into a verdict; `structure` (tables, columns, scope,
encoded, fk), `reconcile` (completeness by key-range checksums), `fingerprint` (leaked values, patterns,
temporal scope), `suites` (Great Expectations), `grants`, `canary`, `audit` and `drift` are the checks;
`results` their common result type. The check ids are listed in the README ("What `verify` proves").
"""
