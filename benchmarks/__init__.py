"""roomcast's benchmarks: what the ORM costs over its drivers, how fast rooms
fan out, and how many sockets one process holds.

``python -m benchmarks`` runs every benchmark in its short form (under three
minutes on two cores); ``--full`` runs the full sizes. Each benchmark also
runs alone (``python -m benchmarks.persistence --help``), prints a table and
writes its figures as JSON to ``var/bench/<name>-<timestamp>.json``.

Every load is aimed only at servers the benchmark starts itself on
127.0.0.1 (and at the test services of ``make services`` for MongoDB,
Cassandra and Redis); every loop is bounded in count and in time.
"""
