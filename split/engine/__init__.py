"""The copy engine: partitions → extract → route → load, run by Dask (`split.engine.run`)."""
