"""One S3 bucket as a dict, with the calls the backup helpers make (a fake for pure-logic unit tests)."""

from __future__ import annotations

import io
from typing import Any


class FakeBucket:
    """Keys -> (body, metadata) of the one bucket ``name``; a call naming another bucket fails."""

    class NoSuchKey(Exception):
        """What botocore raises for a missing key, with the error code a ClientError carries."""

        def __init__(self, key: str) -> None:
            super().__init__(key)
            self.response = {"Error": {"Code": "404"}}

    class NoSuchBucket(Exception):
        pass

    def __init__(self, name: str = "b") -> None:
        self.name = name
        self.objects: dict[str, tuple[bytes, dict[str, str]]] = {}
        self.content_types: dict[str, str] = {}
        self.exceptions = self
        #: every key a DeleteObjects call named, in call order
        self.deleted: list[str] = []

    def _bucket(self, name: str) -> None:
        if name != self.name:
            raise self.NoSuchBucket(f"{name!r} is not the bucket {self.name!r}")

    def put_object(
        self, Bucket: str, Key: str, Body: bytes, Metadata: Any = None, ContentType: str = "", **_: Any
    ) -> None:
        self._bucket(Bucket)
        self.objects[Key] = (Body, dict(Metadata or {}))
        self.content_types[Key] = ContentType

    def get_object(self, Bucket: str, Key: str) -> dict[str, Any]:
        self._bucket(Bucket)
        if Key not in self.objects:
            raise self.NoSuchKey(Key)
        body, meta = self.objects[Key]
        return {"Body": io.BytesIO(body), "Metadata": meta}

    def head_object(self, Bucket: str, Key: str) -> dict[str, Any]:
        self._bucket(Bucket)
        if Key not in self.objects:
            raise self.NoSuchKey(Key)
        body, meta = self.objects[Key]
        return {"ContentLength": len(body), "Metadata": meta}

    def delete_object(self, Bucket: str, Key: str) -> None:
        self._bucket(Bucket)
        self.objects.pop(Key, None)

    def delete_objects(self, Bucket: str, Delete: dict[str, Any]) -> dict[str, Any]:
        self._bucket(Bucket)
        for obj in Delete["Objects"]:
            self.deleted.append(obj["Key"])
            self.objects.pop(obj["Key"], None)
        return {}

    def get_paginator(self, name: str) -> Any:
        bucket = self

        class Pages:
            def paginate(self, Bucket: str, Prefix: str, **_: Any) -> list[dict[str, Any]]:
                bucket._bucket(Bucket)
                keys = sorted(k for k in bucket.objects if k.startswith(Prefix))
                return [{"Contents": [{"Key": k, "Size": len(bucket.objects[k][0])} for k in keys]}]

        return Pages()
