"""Seeing what a run did: the HTML report (`filter report`) and terminal inspection (`filter inspect`).

Everything here reads a finished (or partly finished) output directory; nothing reruns a step.
"""

from thresher.report.collect import OutputDir, ReportData, scan_output
from thresher.report.html import write_report
from thresher.report.inspect import inspect_reason

__all__ = ["OutputDir", "ReportData", "inspect_reason", "scan_output", "write_report"]
