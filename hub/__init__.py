"""The outside world and the jobs that span it: Civitai, Hugging Face, downloads,
placement, bulk sync, enrichment, update checks, render jobs.

May import :mod:`sdhub.catalog` and :mod:`sdhub.models`; never draws UI.
"""
