"""Organization scans: every repository of an organization in one run, into one datastore.

`sources` finds the repositories (folders, lists, clone URLs, cloned as mirrors); `run` scans
them in parallel (a local process pool, or a Dask cluster) and records each one in the
`store` as it finishes, so that an interrupted run resumes where it stopped; `report` reads
the datastore back as one finding per credential across every repository.
"""
