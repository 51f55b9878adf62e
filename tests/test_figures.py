"""Tests of the printable figures and the CJK font lookup."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from deyang_geo.core.errors import InputError
from deyang_geo.io import fonts
from deyang_geo.io.fonts import PROBE_TEXT, find_cjk_font
from deyang_geo.outputs import figures


def _render_text(text: str, family: str) -> np.ndarray:
    """Render ``text`` alone in ``family`` and return the grey pixels (0 = black ink)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(3, 1), dpi=100)
    FigureCanvasAgg(fig)
    fig.text(0.05, 0.3, text, family=family, fontsize=28)
    fig.canvas.draw()
    rgba = np.asarray(fig.canvas.buffer_rgba())
    return rgba[..., :3].mean(axis=2)


@pytest.fixture(scope="module")
def cjk_family() -> str:
    font = find_cjk_font()
    if font is None:
        pytest.skip("no CJK font installed (fonts-noto-cjk)")
    return font.family


def test_cjk_font_has_the_glyphs(cjk_family):
    from matplotlib import ft2font

    font = find_cjk_font()
    assert font is not None
    assert font.path.is_file()
    face = ft2font.FT2Font(str(font.path))
    assert all(face.get_char_index(ord(ch)) != 0 for ch in PROBE_TEXT)


def test_chinese_glyphs_are_drawn_not_boxes(cjk_family):
    import warnings

    # Two different strings of the same length: drawn with real glyphs they differ; drawn
    # as "missing glyph" boxes they would be identical.
    a = _render_text("德阳社区", cjk_family)
    b = _render_text("服务覆盖", cjk_family)
    assert (a < 128).sum() > 200  # ink was drawn
    assert np.abs(a - b).sum() > 1000
    # the same strings in a Latin-only font are tofu: identical boxes (the reference for
    # what a failure looks like); matplotlib warns about the missing glyphs
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tofu_a = _render_text("德阳社区", "DejaVu Sans")
        tofu_b = _render_text("服务覆盖", "DejaVu Sans")
    assert np.array_equal(tofu_a, tofu_b)
    assert not np.array_equal(a, tofu_a)


def test_study_figure_png_and_pdf(study_layers, tmp_path, cjk_family):
    from PIL import Image

    fig = figures.study_figure(title="德阳 Deyang", scenario="步行 15 分钟", synthetic=True,
                               **study_layers)
    texts = [t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text"))]
    assert "SYNTHETIC DATA / 合成数据" in " ".join(texts)
    assert any(t == "N" for t in texts)  # north arrow
    assert any(t.endswith(("km", " m")) for t in texts)  # scale bar
    png = figures.save_figure(fig, tmp_path / "map.png", dpi=100)
    pdf = figures.save_figure(fig, tmp_path / "map.pdf")
    with Image.open(png) as image:
        width, height = image.size
    assert (width, height) in {(827, 1169), (1169, 827)}  # A4 at 100 dpi
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF")
    assert b"NotoSansCJK" in data or cjk_family.replace(" ", "").encode() in data
    # the text of a font family that has the glyphs is used
    families = {f for t in fig.findobj(lambda a: hasattr(a, "get_fontfamily"))
                for f in t.get_fontfamily()}
    assert cjk_family in families


def test_inputs_not_modified(study_layers, cjk_family):
    before = {k: v.copy(deep=True) for k, v in study_layers.items()}
    figures.study_figure(title="t", **study_layers)
    for key, table in study_layers.items():
        pd.testing.assert_frame_equal(pd.DataFrame(table), pd.DataFrame(before[key]))


def test_without_cjk_font_english_with_a_warning(monkeypatch, study_layers):
    monkeypatch.setattr(fonts, "cjk_family_or_warn", lambda: None)
    with pytest.warns(figures.FontWarning, match="English"):
        fig = figures.study_figure(title="Deyang", lang="both",
                                   divisions=study_layers["divisions"],
                                   facilities=study_layers["facilities"])
    legend = fig.legends[0]
    labels = [t.get_text() for t in legend.get_texts()]
    assert "Community service station" in labels
    assert not any("社区" in text for text in labels)


def test_coverage_chart_and_errors(tmp_path, cjk_family):
    table = pd.DataFrame({"category": ["service_station", "fitness_station"] * 2,
                          "kind": ["urban", "urban", "rural", "rural"],
                          "covered_share_15min": [0.9, 0.5, 0.3, 0.1]})
    fig = figures.coverage_chart(table, title="覆盖", target_share=0.9, lang="zh")
    heights = sorted(round(p.get_height(), 6) for p in fig.axes[0].patches)
    assert heights == [10.0, 30.0, 50.0, 90.0]
    with pytest.raises(InputError, match=r"png or \.pdf"):
        figures.save_figure(fig, tmp_path / "chart.jpg")
    with pytest.raises(InputError, match="category"):
        figures.coverage_chart(pd.DataFrame({"x": [1]}), title="t")
    with pytest.raises(InputError, match="at least one layer"):
        figures.study_figure(title="t")


def test_write_figures_per_category(study_layers, tmp_path, cjk_family):
    paths = figures.write_figures(tmp_path, stem="cov", formats=("png",),
                                  categories=(None, "fitness_station"), dpi=40,
                                  title="t", **study_layers)
    assert [p.name for p in paths] == ["cov.png", "cov_fitness_station.png"]
    assert all(p.stat().st_size > 1000 for p in paths)


def test_scale_bar_lengths_are_round():
    assert figures._nice_length_m(10_000) == 2000
    assert figures._nice_length_m(3_000) == 500
    assert figures._nice_length_m(800) == 100


def test_background_figures_are_the_same_files(study_layers, tmp_path, cjk_family):
    """Issue 17: figures drawn in a background process, byte for byte what write_figures writes.

    The report embeds the PNG as drawn (reduced), not read back from the print-size file: the
    preview is the same bytes the report made from the file before.
    """
    from deyang_geo.outputs import report

    kwargs = {"stem": "m", "categories": (None, "fitness_station"), "dpi": 60, "title": "t",
              "synthetic": True, **study_layers}
    serial = figures.write_figures(tmp_path / "serial", **kwargs)
    with figures.start_figures(tmp_path / "bg", preview=report.reduced_png, background=True,
                               **kwargs) as run:
        drawn = run.result()
    assert [p.name for p in drawn.paths] == [p.name for p in serial]
    assert [p.parent for p in drawn.paths] == [tmp_path / "bg"] * 4
    for a, b in zip(serial, drawn.paths, strict=True):
        assert a.read_bytes() == b.read_bytes(), a.name
    pngs = [p for p in drawn.paths if p.suffix == ".png"]
    assert set(drawn.previews) == set(pngs)
    for p in pngs:  # at 60 dpi the figure is narrower than the report's width: embedded as is
        assert drawn.previews[p] == report._figure_png(p) == p.read_bytes()


def test_background_preview_of_a_print_size_figure(study_layers, tmp_path, cjk_family):
    """A figure wider than the report's images: the preview is the reduced PNG of the file."""
    from deyang_geo.outputs import report

    run = figures.start_figures(tmp_path, stem="m", formats=("png",), dpi=250,
                                preview=report.reduced_png, background=False, title="t",
                                divisions=study_layers["divisions"],
                                facilities=study_layers["facilities"])
    (png,) = run.result().paths
    preview = run.result().previews[png]
    assert preview != png.read_bytes()
    assert preview == report._figure_png(png)


def test_background_failure_raises_the_real_error(tmp_path, study_layers):
    """A figure that cannot be drawn fails in the caller, with the error it would have."""
    with figures.start_figures(tmp_path, title="t", background=True) as run, \
            pytest.raises(InputError, match="at least one layer"):
        run.result()
    assert not list(tmp_path.iterdir())


def test_background_warnings_reach_the_caller(monkeypatch, study_layers, tmp_path):
    monkeypatch.setattr(fonts, "cjk_family_or_warn", lambda: None)
    with figures.start_figures(tmp_path, formats=("png",), dpi=30, title="Deyang",
                               background=True, divisions=study_layers["divisions"]) as run, \
            pytest.warns(figures.FontWarning, match="English"):
        run.result()


def test_closed_background_run_stops_its_process(study_layers, tmp_path):
    run = figures.start_figures(tmp_path, formats=("png",), dpi=30, title="t",
                                background=True, **study_layers)
    run.close()
    run.close()  # twice is fine
    assert [p.name for p in run.result().paths] == ["map.png"]  # drawn here when asked
