"""Turn one file's bytes into documents, YAML or JSON as kubectl would read it."""

from __future__ import annotations

from tether.manifests.jsonstream import load_json_documents, looks_like_json
from tether.manifests.yaml import DEFAULT_MAX_DEPTH, Document, Loader, decode_text, load_documents


def parse_file(
    data: bytes, *, file: str, loader: Loader = "auto", max_depth: int = DEFAULT_MAX_DEPTH
) -> list[Document]:
    """Documents of a file: a JSON stream when it starts with ``{``, else YAML."""
    text = decode_text(data, file=file)
    if looks_like_json(text):
        return load_json_documents(text, file=file)
    return load_documents(text, file=file, loader=loader, max_depth=max_depth)
