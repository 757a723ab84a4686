"""Helpers the tests share (importable because pyproject puts tests/ on sys.path)."""
