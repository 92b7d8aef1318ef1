"""The HTML report's domain: Spark aggregations of the run date's tables, and the page.

:mod:`skuplan.report.series` builds one compact JSON document per series and
:mod:`skuplan.report.data` the accuracy and plan summaries (``DataFrame -> DataFrame``);
:mod:`skuplan.report.page` turns their small, collected results (:class:`ReportData`) into
one self-contained HTML file, with the figures of :mod:`skuplan.report.figures` and the
style and script of ``assets/``. The stage that reads the tables and writes the file is
:mod:`skuplan.pipeline.report`.
"""
