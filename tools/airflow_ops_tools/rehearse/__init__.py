"""``airflow-ops rehearse-upgrade``: replay an Airflow upgrade on a verified backup, in a scratch database.

The pieces, each usable alone: :mod:`.envs` (an isolated environment of a release, built with uv and
cached), :mod:`.migration` (``airflow db migrate`` with its locks sampled), :mod:`.dagcheck` (DAG
files imported by each release's DagBag), :mod:`.cfgcheck` (``airflow config lint`` and removed keys)
and :mod:`.report` (the fixed-schema report and its headline). :mod:`.cli` runs them in order.
"""
