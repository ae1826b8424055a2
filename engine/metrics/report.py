"""The METRICS value and the comparison of several: a table and a bar chart drawn with PIL, CSV and JSON."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFont

COLUMNS = [("fid", "FID ↓"), ("kid_mean", "KID ↓"), ("is_mean", "IS ↑"), ("precision", "Precision ↑"),
           ("recall", "Recall ↑"), ("clip_score", "CLIP score ↑")]
BAR_COLOURS = [(76, 120, 168), (245, 133, 24), (84, 162, 75), (228, 87, 86), (114, 183, 178), (178, 121, 162)]


@dataclass
class MetricsReport:
    label: str
    num_images: int
    feature_net: str
    resize_mode: str = ""
    reference: str = ""
    fid: float | None = None
    kid_mean: float | None = None
    kid_std: float | None = None
    is_mean: float | None = None
    is_std: float | None = None
    precision: float | None = None
    recall: float | None = None
    clip_score: float | None = None
    clip_model: str = ""

    def summary(self) -> str:
        parts = [f"{title.rsplit(' ', 1)[0]} {getattr(self, key):.4g}" for key, title in COLUMNS
                 if getattr(self, key) is not None]
        return f"{self.label}: " + ", ".join(parts) + f" ({self.num_images} images, {self.feature_net})"


def to_json(reports: list[MetricsReport]) -> str:
    return json.dumps([asdict(report) for report in reports], indent=2)


def to_csv(reports: list[MetricsReport]) -> str:
    buffer = io.StringIO()
    fields = list(asdict(reports[0])) if reports else []
    writer = csv.DictWriter(buffer, fieldnames=fields)
    writer.writeheader()
    for report in reports:
        writer.writerow(asdict(report))
    return buffer.getvalue()


def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.truetype("DejaVuSans.ttf", size)
    except OSError:
        return ImageFont.load_default(size)


def render_comparison(reports: list[MetricsReport], title: str = "Model comparison") -> np.ndarray:
    """A table of every metric and one bar chart per metric, as an RGB uint8 image."""
    columns = [(key, name) for key, name in COLUMNS if any(getattr(r, key) is not None for r in reports)]
    width = max(640, 180 + 130 * len(columns))
    row_height, chart_height = 30, 220
    table_height = 70 + row_height * (len(reports) + 1)
    image = Image.new("RGB", (width, table_height + chart_height * max(1, len(columns)) + 20), "white")
    draw = ImageDraw.Draw(image)
    draw.text((20, 15), title, fill="black", font=_font(22))
    y = 60
    draw.text((20, y), "Model", fill="black", font=_font(15))
    for index, (_, name) in enumerate(columns):
        draw.text((200 + 130 * index, y), name, fill="black", font=_font(15))
    for report in reports:
        y += row_height
        draw.line((15, y - 4, width - 15, y - 4), fill=(220, 220, 220))
        draw.text((20, y), report.label[:22], fill="black", font=_font(14))
        for index, (key, _) in enumerate(columns):
            value = getattr(report, key)
            draw.text((200 + 130 * index, y), "—" if value is None else f"{value:.4g}", fill="black",
                      font=_font(14))
    for index, (key, name) in enumerate(columns):
        _bar_chart(draw, reports, key, name, (20, table_height + index * chart_height, width - 20,
                                              table_height + (index + 1) * chart_height - 20))
    return np.asarray(image)


def _bar_chart(draw: ImageDraw.ImageDraw, reports: list[MetricsReport], key: str, name: str,
               box: tuple[int, int, int, int]) -> None:
    left, top, right, bottom = box
    draw.text((left, top), name, fill="black", font=_font(15))
    values = [getattr(report, key) for report in reports]
    known = [v for v in values if v is not None]
    if not known:
        return
    peak = max(max(abs(v) for v in known), 1e-12)
    bar_area_top, bar_area_bottom = top + 30, bottom - 20
    slot = (right - left) / max(1, len(reports))
    for index, (report, value) in enumerate(zip(reports, values, strict=True)):
        x0 = left + index * slot + slot * 0.15
        x1 = left + (index + 1) * slot - slot * 0.15
        if value is not None:
            height = (bar_area_bottom - bar_area_top) * abs(value) / peak
            draw.rectangle((x0, bar_area_bottom - height, x1, bar_area_bottom),
                           fill=BAR_COLOURS[index % len(BAR_COLOURS)])
            draw.text((x0, bar_area_bottom - height - 16), f"{value:.3g}", fill="black", font=_font(12))
        draw.text((x0, bar_area_bottom + 3), report.label[:18], fill="black", font=_font(12))
