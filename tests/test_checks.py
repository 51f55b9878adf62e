"""One rule for positive numbers, one wording, wherever the value comes from."""

from __future__ import annotations

import math

import numpy as np
import pytest

from deyang_geo.core.checks import check_positive, is_positive_number, positive_problem
from deyang_geo.core.errors import InputError


@pytest.mark.parametrize("value", [1, 0.5, 1e9, np.float64(3.0), np.int64(2)])
def test_positive_numbers_pass(value: object) -> None:
    assert is_positive_number(value)
    assert positive_problem(value) is None
    assert check_positive(value, name="x") == float(value)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [0, -4, -0.0, math.nan, math.inf, True, "5", None])
def test_everything_else_is_refused_with_one_wording(value: object) -> None:
    assert not is_positive_number(value)
    assert positive_problem(value, unit="km/h").startswith("must be a positive number of km/h")
    with pytest.raises(InputError, match=r"^--walk-speed-kmh must be a positive number"):
        check_positive(value, name="--walk-speed-kmh")


def test_cli_and_study_file_use_the_same_words(tmp_path, capsys) -> None:
    from deyang_geo.cli import main
    from deyang_geo.study.config import load_study

    study = tmp_path / "study.toml"
    study.write_text('[network]\nsource = "x.osm"\n[network.speeds_kmh]\nwalk = 0\n',
                     encoding="utf-8")
    with pytest.raises(InputError) as caught:
        load_study(study)
    assert "network.speeds_kmh.walk: must be a positive number of km/h, got 0" in str(caught.value)
    code = main(["access", "--network", "n.graphml", "--facilities", "f.csv", "--demand",
                 "d.csv", "--walk-speed-kmh", "0", "--out", str(tmp_path / "o")])
    assert code == 2
    assert "--walk-speed-kmh: must be a positive number of km/h, got 0" in capsys.readouterr().err
