"""Dataset ``arrays``: user-supplied flat per-jet columns in npz, parquet or HDF5.

One column per name, one row per jet: npz keys, parquet columns, HDF5 1-D datasets (``group/name``
paths allowed). ``features`` picks the model inputs in order; ``label`` holds the class index into
``classes``; ``pt``/``eta`` are needed for the kinematic reweighting. No jet cuts are applied: the file
is taken as already selected. Values are delivered raw with ``MissingRules``: non-finite values, the
``placeholders`` and |x| > 1e30 count as missing; columns named like the DeepCSV inputs additionally get
the DeepCSV rules of ``mark_missing`` (-1 where unphysical, absent tracks) unless ``deepcsv_rules`` is false.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import ClassVar

import numpy as np
from pydantic import Field, model_validator

from hepadv.components import ComponentParams
from hepadv.data.base import DEEPCSV_CLASSES, Dataset, MissingRules, RawJets
from hepadv.data.pfnano import one_line
from hepadv.errors import DataError
from hepadv.paths import CardPath

log = logging.getLogger("hepadv.data")

#: file suffix -> format
FORMATS: dict[str, str] = {".npz": "npz", ".parquet": "parquet", ".pq": "parquet", ".h5": "hdf5", ".hdf5": "hdf5"}


def file_format(path: Path) -> str:
    """The format named by the suffix; DataError listing the supported ones otherwise."""
    fmt = FORMATS.get(Path(path).suffix.lower())
    if fmt is None:
        supported = ", ".join(sorted(FORMATS))
        raise DataError(f"{path}: unsupported file type {Path(path).suffix or '(none)'!r}; use one of {supported}")
    return fmt


def read_columns(path: Path, names: list[str]) -> dict[str, np.ndarray]:
    """Read the named 1-D columns of equal length from an npz/parquet/HDF5 file (DataError otherwise)."""
    path = Path(path)
    fmt = file_format(path)
    if not path.is_file():
        raise DataError(f"input file {path} is a directory, not a {fmt} file" if path.is_dir()
                        else f"input file {path} does not exist")
    reader = {"npz": _read_npz, "parquet": _read_parquet, "hdf5": _read_hdf5}[fmt]
    try:
        cols = reader(path, names)
    except DataError:
        raise
    except Exception as exc:  # corrupt or unreadable file: the libraries raise many types
        why = "not a valid npz (zip of arrays) file" if fmt == "npz" else one_line(exc)  # numpy's advice misleads
        raise DataError(f"cannot read {path} as {fmt}: {why}") from None
    lengths = {n: len(c) for n, c in cols.items()}
    if len(set(lengths.values())) > 1:
        raise DataError(f"{path}: columns have different lengths: {lengths}")
    return cols


def _missing(path: Path, names: list[str], available: list[str]) -> None:
    absent = [n for n in names if n not in set(available)]
    if absent:
        shown = ", ".join(available[:20]) + (", ..." if len(available) > 20 else "")
        raise DataError(f"{path}: column {absent[0]!r} not found ({len(absent)} missing); columns in the file: {shown}")


def _as_1d(path: Path, name: str, arr: np.ndarray) -> np.ndarray:
    arr = np.asarray(arr)
    if arr.ndim != 1:
        raise DataError(f"{path}: column {name!r} has shape {arr.shape}; one 1-D column per name is expected")
    return arr


def _read_npz(path: Path, names: list[str]) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as z:
        _missing(path, names, list(z.files))
        return {n: _as_1d(path, n, z[n]) for n in names}


def _read_parquet(path: Path, names: list[str]) -> dict[str, np.ndarray]:
    import pyarrow.parquet as pq

    _missing(path, names, list(pq.read_schema(path).names))
    table = pq.read_table(path, columns=names)
    return {n: _as_1d(path, n, table.column(n).to_numpy()) for n in names}


def _read_hdf5(path: Path, names: list[str]) -> dict[str, np.ndarray]:
    import h5py

    with h5py.File(path, "r") as f:
        available: list[str] = []
        f.visititems(lambda key, obj: available.append(key) if isinstance(obj, h5py.Dataset) else None)
        _missing(path, names, available)
        return {n: _as_1d(path, n, f[n][()]) for n in names}


class ArrayJets(Dataset):
    """Jets from flat arrays the user prepared; features, label and kinematics named in the card."""

    name: ClassVar[str] = "arrays"

    class Params(ComponentParams):
        path: CardPath
        features: list[str] = Field(min_length=1, description="input columns, in model order")
        label: str = "label"
        pt: str = "Jet_pt"
        eta: str = "Jet_eta"
        integer_features: list[str] = Field(default_factory=list)
        classes: list[str] = Field(default_factory=lambda: list(DEEPCSV_CLASSES), min_length=2)
        placeholders: list[float] = Field(default_factory=lambda: [-999.0])
        deepcsv_rules: bool = True

        @model_validator(mode="after")
        def _consistent(self) -> ArrayJets.Params:
            if len(set(self.features)) != len(self.features):
                raise ValueError("features contains duplicates")
            if len(set(self.classes)) != len(self.classes):
                raise ValueError("classes contains duplicates")
            stray = [n for n in self.integer_features if n not in self.features]
            if stray:
                raise ValueError(f"integer_features {stray} are not in features")
            return self

    def load(self) -> RawJets:
        p = self.params
        names = list(dict.fromkeys([*p.features, p.label, p.pt, p.eta]))
        cols = read_columns(p.path, names)
        for n in [*p.features, p.pt, p.eta]:
            if not (np.issubdtype(cols[n].dtype, np.number) or cols[n].dtype == bool):
                raise DataError(f"{p.path}: column {n!r} is not numeric (dtype {cols[n].dtype})")
        labels = self._labels(cols[p.label])
        x = np.column_stack([cols[n].astype(np.float32) for n in p.features])
        log.info("arrays: %s: %d jets", p.path, len(labels))
        if len(labels) == 0:
            raise DataError(f"{p.path} contains no jets")
        return RawJets(
            features=x,
            labels=labels,
            pt=cols[p.pt].astype(np.float32),
            eta=cols[p.eta].astype(np.float32),
            feature_names=tuple(p.features),
            integer_features=tuple(p.integer_features),
            classes=tuple(p.classes),
            missing=MissingRules(tuple(p.placeholders), deepcsv=p.deepcsv_rules),
        )

    def _labels(self, raw: np.ndarray) -> np.ndarray:
        p = self.params
        n_classes = len(p.classes)
        if not np.issubdtype(raw.dtype, np.number):
            raise DataError(f"{p.path}: label column {p.label!r} is not numeric (dtype {raw.dtype})")
        with np.errstate(invalid="ignore"):
            bad = ~np.isfinite(raw) | (raw != np.round(raw)) | (raw < 0) | (raw >= n_classes)
        if bad.any():
            shown = ", ".join(str(v) for v in np.unique(raw[bad])[:5])
            raise DataError(
                f"{p.path}: label column {p.label!r} must hold integers 0..{n_classes - 1} "
                f"for classes {', '.join(p.classes)}; found {shown} in {int(bad.sum())} rows"
            )
        return raw.astype(np.int64)

    def cache_key(self) -> str:
        """Params plus size and mtime of the file."""
        path = Path(self.params.path)
        try:
            st = path.stat()
        except OSError:
            raise DataError(f"input file {path} does not exist") from None
        return f"{self.name}:{self.params.model_dump_json()}:{path.resolve()}|{st.st_size}|{st.st_mtime_ns}"
