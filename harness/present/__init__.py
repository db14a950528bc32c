"""Presenting results: the report in markdown, HTML and JSON, and its figures."""
