"""One module per DAG kind: ``build(cfg, dag_kwargs) -> DAG`` declares the tasks."""
