"""`report.html` for a run directory or a batch directory (self-contained, no network)."""

from autoreward.report.build import write_batch_report, write_report, write_run_report

__all__ = ["write_batch_report", "write_report", "write_run_report"]
