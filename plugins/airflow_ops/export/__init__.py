"""Lossless, encrypted export of Airflow Variables and Connections, and its restore.

Read path (why not the CLI or REST)
-----------------------------------
Under Airflow 3 task isolation a task cannot open an ORM session, REST ``GET /connections``
redacts passwords and the Task SDK cannot list connections. We therefore read the two tables
straight from the metadata DB through the ``airflow_metadata_db`` connection with psycopg2 and
decrypt ``val`` / ``password`` / ``extra`` with the Airflow fernet key ([core] fernet_key of the
worker, or a connection holding it). Only DB-stored entries exist there: environment variables
and secrets backends are never exported.

We verified the alternative, ``airflow variables export`` / ``airflow connections export`` as
subprocesses with ``AIRFLOW__DATABASE__SQL_ALCHEMY_CONN`` set explicitly: it works, but
``variables export`` re-serialises values that parse as JSON (``1e3`` comes back as ``1000.0``,
``{"a":1}`` is re-indented, surrounding blanks vanish), it writes the plaintext to files, and
each call boots a full Airflow interpreter (seconds and hundreds of MB). Reading the rows keeps
every stored string byte for byte and streams 10k entries in well under a second.

What is written
---------------
The payload holds the two documents exactly as ``airflow variables import`` and
``airflow connections import`` accept them (JSON; a variable value is always its stored string,
so import stores it unchanged), gzip-compressed, then sealed with AES-256-GCM under a key from a
secret (see :mod:`airflow_ops.export.crypto`). A plaintext sidecar manifest holds counts,
names and keyed hashes (HMAC-SHA256) so the next run can diff without decrypting.
"""
