#!/usr/bin/env python3
"""Kept for existing cron jobs and docs: the same as `airflow-ops restore-export`."""

import sys

from airflow_ops_tools.cli import main

if __name__ == "__main__":
    sys.exit(main(["restore-export", *sys.argv[1:]]))
