"""Test helpers shared by several test modules: file factories, fake servers.

Importable as ``support`` (pytest's ``pythonpath`` includes ``tests/``).
"""
