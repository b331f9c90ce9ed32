#!/usr/bin/env python3
"""Kept for existing cron jobs and docs: the same as `airflow-ops generate`."""

import sys

from airflow_ops_tools.cli import main

if __name__ == "__main__":
    sys.exit(main(["generate", *sys.argv[1:]]))
