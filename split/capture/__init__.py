"""Change capture (issue 21): the final sync of a wave in seconds, not a scan of every table.

`copy --capture` starts a logical replication slot on a PostgreSQL source at the very snapshot the copy
reads (`slot`); `sync --follow` decodes the slot's changes (`pgoutput`) and applies them through the plan
(`follow`); `capture status|drop` show and remove the slot (`command`). Other sources keep checksum `sync`.
"""
