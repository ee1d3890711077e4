"""The doc-rag CrossGuard policy pack. Rules are plain functions (see rules.py) so tests and the offline
plan apply them without a server; __main__.py serves the same rules over the Analyzer protocol."""
