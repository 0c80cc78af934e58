"""Verification reports: report.json, junit.xml and a self-contained, offline index.html."""

from split.report.write import write_audit, write_report

__all__ = ["write_audit", "write_report"]
