"""Every config class of the package reads its YAML typed: numbers written as strings (YAML 1.1 reads `3e-3` as one)
become the numbers their fields declare, a wrong type is refused in one line naming the file, the field, the value and
the expected type, and an unknown key names its nearest valid spelling."""
import typing

import pytest
import yaml

import neurodx.data.prepare  # noqa: F401
import neurodx.serve  # noqa: F401
import neurodx.train.experiment  # noqa: F401
from neurodx.core import Config, NeurodxDataError, _resolve_hints
from neurodx.papers import load_papers

load_papers()  # every paper's module, and so its config classes (plugins included)


def _all_configs(cls=Config) -> list:
    out = []
    for sub in cls.__subclasses__():
        if sub.__module__.startswith("neurodx."): out.append(sub)
        out += _all_configs(sub)
    return sorted(set(out), key=lambda c: f"{c.__module__}.{c.__name__}")


CONFIGS = _all_configs()
REQUIRED = {"TabularScaler": {"columns": ["age", "nihss"]}}  # the fields some configs have no default for


def _example(cls):
    return cls(**REQUIRED.get(cls.__name__, {}))


def _plain_type(tp):
    "int or float when the field is one (or one or None), else None."
    args = [a for a in typing.get_args(tp) if a is not type(None)] if typing.get_origin(tp) in (typing.Union, type(int | None)) else [tp]
    return args[0] if len(args) == 1 and args[0] in (int, float) else None


def test_the_package_has_its_config_classes():
    names = {c.__name__ for c in CONFIGS}
    assert {"TrainConfig", "ExperimentConfig", "CohortConfig", "AlzheimerDlConfig", "CnnTlsmConfig", "Isles22Config"} <= names


@pytest.mark.parametrize("cls", CONFIGS, ids=[c.__name__ for c in CONFIGS])
def test_config_reads_numbers_as_declared_and_refuses_wrong_types(cls, tmp_path):
    cfg = _example(cls)
    f = tmp_path / "c.yaml"
    f.write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
    assert cls.load(f).to_dict() == cfg.to_dict()  # the round trip
    numeric = {k: t for k, tp in _resolve_hints(cls).items() if (t := _plain_type(tp)) is not None}
    for k, t in numeric.items():
        as_text = {**cfg.to_dict(), k: "3" if t is int else "3e-3"}  # what YAML 1.1 gives for `3e-3`, or a quoted number
        f.write_text(yaml.safe_dump(as_text, sort_keys=False))
        got = getattr(cls.load(f), k)
        assert got == (3 if t is int else 3e-3) and type(got) is t, (cls.__name__, k, got)
        f.write_text(yaml.safe_dump({**cfg.to_dict(), k: "lots"}, sort_keys=False))
        with pytest.raises(NeurodxDataError) as e:
            cls.load(f)
        msg = str(e.value)
        assert "\n" not in msg and str(f) in msg and f"{cls.__name__}.{k} = 'lots' (str): expected" in msg, msg
    if numeric:
        k = next(iter(numeric))
        f.write_text(yaml.safe_dump({**cfg.to_dict(), k + "x": 1}, sort_keys=False))
        with pytest.raises(NeurodxDataError, match=f"unknown {cls.__name__} key '{k}x'; did you mean '{k}'"):
            cls.load(f)


def test_nested_field_errors_name_the_section(tmp_path):
    from neurodx.train.experiment import ExperimentConfig
    f = tmp_path / "exp.yaml"
    f.write_text("name: x\nout_dir: runs\ntrain:\n  lr: 3e-3\n  epochs: '4'\n")
    cfg = ExperimentConfig.load(f)
    assert (cfg.train.lr, cfg.train.epochs) == (3e-3, 4)
    f.write_text("name: x\nout_dir: runs\ntrain:\n  lr: fast\n")
    with pytest.raises(NeurodxDataError, match=r"exp.yaml:train: TrainConfig.lr = 'fast' \(str\): expected a number"):
        ExperimentConfig.load(f)
