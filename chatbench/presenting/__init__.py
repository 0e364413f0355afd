"""Presenting: charts, the HTML report, terminal tables and markdown, README's Findings.

Renderers return figures, strings or rich renderables built from analysed results; the
report and chart writers put files into a run directory. Nothing here measures or judges.
"""
