"""The project's exception family: every error names what failed and how to fix it."""

from __future__ import annotations


class AirflowOpsError(Exception):
    """Base class for every error raised by airflow-ops."""


class ConfigError(AirflowOpsError):
    """A config file is invalid. Carries the file, the field path and the reason."""

    def __init__(self, file: str, field: str, reason: str) -> None:
        self.file = file
        self.field = field
        self.reason = reason
        super().__init__(f"{file}: {field}: {reason}")


class MissingConnectionError(AirflowOpsError):
    """An Airflow connection the task needs is not defined."""

    def __init__(self, conn_id: str, purpose: str, example_uri: str) -> None:
        self.conn_id = conn_id
        env = "AIRFLOW_CONN_" + conn_id.upper().replace("-", "_")
        super().__init__(
            f"connection {conn_id!r} ({purpose}) is not defined. Create it in the UI "
            f"(Admin -> Connections), with `airflow connections add {conn_id} --conn-uri ...`, "
            f"or set the environment variable {env}='{example_uri}' on every worker."
        )
