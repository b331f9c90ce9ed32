"""The Maintenance page: a FastAPI app (:func:`airflow_ops.console.app.create_app`) that the plugin
entry module mounts on the api-server at ``/maintenance`` with a "Maintenance" nav entry.

``data`` reads the metadata DB (a fixed number of queries per page), ``page`` turns that into the
attention list, the DAG table and inline SVG charts, ``app`` adds the api-server's auth dependencies.
"""
