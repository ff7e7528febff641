"""The label-set readers, by the SOURCE name `flames labels import` takes. One module per source; modules
are imported only when chosen."""

from __future__ import annotations

from importlib import import_module

from flames.labels.readers.base import LabelReader

_MODULES: dict[str, tuple[str, str]] = {
    "jsonl": ("generic", "JSONL"),
    "csv": ("generic", "CSV"),
    "xlsx": ("generic", "XLSX"),
    "annotation": ("annotation", "READER"),
    "jade-v3": ("jade_v3", "READER"),
    "xstest-v2": ("xstest_v2", "READER"),
    "libra-test": ("libra_test", "READER"),
    "shieldlm": ("shieldlm", "READER"),
    "do-not-answer": ("do_not_answer", "READER"),
    "beavertails": ("beavertails", "READER"),
    "wildguardtest": ("wildguardtest", "READER"),
}
SOURCES = tuple(_MODULES)


def get_reader(name: str) -> LabelReader:
    """The reader registered as `name`; ValueError listing the known sources otherwise."""
    if name not in _MODULES:
        known = ", ".join(SOURCES)
        raise ValueError(f"unknown label source {name!r}; known: {known} (annotation as annotation:PROJECT)")
    module, attr = _MODULES[name]
    reader = getattr(import_module(f"flames.labels.readers.{module}"), attr)
    assert isinstance(reader, LabelReader)
    return reader
