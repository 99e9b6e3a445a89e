"""The campaign report (``hvroll report``): one self-contained HTML file, readable offline."""

from hvroll.report.build import build_report, write_report

__all__ = ["build_report", "write_report"]
