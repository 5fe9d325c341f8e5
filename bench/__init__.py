"""The sqlmig benchmark: sqlmig against the psql floor on the same files, on a throwaway PostgreSQL.

Run it with ``make bench`` (``make bench ARGS=--quick`` for a short run) or ``python -m bench``; bench/README.md
describes the method, the workloads and the targets.
"""
