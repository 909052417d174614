"""What sdhub knows: the SQLModel catalog, incremental library scan, sidecar files.

May import :mod:`sdhub.models`; never touches the network.
"""
