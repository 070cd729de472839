"""Batch scans at scale: a process pool, a scan store, Dask, and streamed results."""
