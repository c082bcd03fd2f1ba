"""Reporting: no torch. Reading results, the paper's tables, figures, claims and REPORT.md."""
