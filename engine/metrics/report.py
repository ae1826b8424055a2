"""The METRICS value and the comparison of several: a table and a bar chart drawn with PIL, CSV and JSON.

Every report states its protocol beside its numbers (how images were resized, the feature weights, the reference
and its size, how many images at which resolution, the IS split rule, the CLIP model and scaling, and whether the
numbers were measured here or copied from a paper), because FIDs made differently cannot be compared.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields

import numpy as np
from PIL import Image, ImageDraw, ImageFont

COLUMNS = [("fid", "FID ↓"), ("kid_mean", "KID ↓"), ("is_mean", "IS ↑"), ("precision", "Precision ↑"),
           ("recall", "Recall ↑"), ("clip_score", "CLIP score ↑")]
BAR_COLOURS = [(76, 120, 168), (245, 133, 24), (84, 162, 75), (228, 87, 86), (114, 183, 178), (178, 121, 162)]
PUBLISHED_COLOUR = (150, 150, 150)  # published rows are drawn apart from measured ones, never mixed in
MEASURED, PUBLISHED = "measured", "published"
CLIP_SCALING = "100·max(cos, 0)"  # torchmetrics' CLIP score (engine.metrics.clip_score)


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
    # The protocol, stated next to the numbers:
    implementation: str = ""  # how images reach the feature net: "pytorch-fid (bilinear resize)", ...
    feature_weights: str = ""  # the feature network's weights file
    reference_count: int | None = None  # images behind the reference statistics; None: unknown (pytorch-fid .npz)
    resolution: str = ""  # H×W of the generated images ("mixed: ..." when they differ)
    is_splits: str = ""  # how the Inception Score splits its images
    clip_scaling: str = ""  # how a cosine becomes the CLIP score
    feature_images: int | None = None  # generated images behind KID and precision/recall (at most KEEP_FEATURES)
    source: str = MEASURED  # "measured" here, or "published" (copied from a paper, see parse_published)
    protocol_note: str = ""  # free text: a published row's protocol as its source states it

    def summary(self) -> str:
        """The numbers on one line, the protocol on the next."""
        parts = [f"{title.rsplit(' ', 1)[0]} {getattr(self, key):.4g}" for key, title in COLUMNS
                 if getattr(self, key) is not None]
        if self.source == PUBLISHED:
            return f"{self.label} (published): " + ", ".join(parts) + "\n  " + self.protocol()
        return (f"{self.label}: " + ", ".join(parts) + f" ({self.num_images} images, {self.feature_net})\n  "
                + self.protocol())

    def protocol(self) -> str:
        """One compact line: how these numbers were made."""
        if self.source == PUBLISHED:
            return "protocol: published" + (f"; {self.protocol_note}" if self.protocol_note else "")
        parts = [self.implementation or self.resize_mode, self.feature_weights or self.feature_net]
        if self.reference:
            count = "image count unknown" if self.reference_count is None else f"{self.reference_count} images"
            parts.append(f"vs {self.reference} ({count})")
        parts.append(f"{self.num_images} images" + (f" at {self.resolution}" if self.resolution else ""))
        if self.feature_images is not None and self.feature_images < self.num_images:
            parts.append(f"KID/PR on the first {self.feature_images}")
        if self.is_mean is not None and self.is_splits:
            parts.append(f"IS {self.is_splits}")
        if self.clip_score is not None:
            parts.append(f"CLIP {self.clip_model or '?'} {self.clip_scaling or CLIP_SCALING}")
        if self.protocol_note:
            parts.append(self.protocol_note)
        return "protocol: " + "; ".join(part for part in parts if part) + f"; {self.source}"


def resolution_of(sizes: Iterable[tuple[int, int]]) -> str:
    """"H×W" of images given as (height, width) pairs; "mixed: ..." when they differ."""
    distinct = sorted(set(sizes))
    text = ", ".join(f"{height}×{width}" for height, width in distinct)
    return f"mixed: {text}" if len(distinct) > 1 else text


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


PUBLISHED_ALIASES = {"kid": "kid_mean", "is": "is_mean", "protocol": "protocol_note", "images": "num_images"}


def parse_published(text: str) -> list[MetricsReport]:
    """Published figures pasted as CSV with a header, one model per line, e.g.
    ``label,fid,clip_score,protocol`` / ``SD 1.5 (paper),9.62,,COCO-30k val2014 256px pytorch-fid``.
    Columns are MetricsReport fields (or ``kid``, ``is``, ``protocol``, ``images``); empty cells stay unknown.
    The rows have source "published". A bad line raises ValueError naming its line number (the header is line 1)."""
    lines = [(number, line) for number, line in enumerate(text.splitlines(), 1) if line.strip()]
    if not lines:
        return []
    (header_number, header_line), rows = lines[0], lines[1:]
    header = [_published_column(name, header_number) for name in next(csv.reader([header_line]))]
    if "label" not in header or len(set(header)) != len(header):
        raise ValueError(f"published line {header_number}: the header needs one label column and no column twice, "
                         f"got {', '.join(header)}")
    reports = []
    for number, line in rows:
        values = [value.strip() for value in next(csv.reader([line]))]
        if len(values) != len(header):
            raise ValueError(f"published line {number}: {len(values)} values for the {len(header)} columns "
                             f"{', '.join(header)}")
        reports.append(_published_report(dict(zip(header, values, strict=True)), number))
    return reports


def _published_column(name: str, line: int) -> str:
    known = {item.name for item in fields(MetricsReport)} - {"source"}
    column = PUBLISHED_ALIASES.get(name.strip().lower(), name.strip().lower())
    if column not in known:
        raise ValueError(f"published line {line}: unknown column {name.strip()!r}; use label, a metric "
                         f"({', '.join(key for key, _ in COLUMNS)}) or protocol")
    return column


def _published_report(values: dict[str, str], line: int) -> MetricsReport:
    if not values["label"]:
        raise ValueError(f"published line {line}: the label is empty")
    types = {item.name: str(item.type) for item in fields(MetricsReport)}
    parsed: dict[str, object] = {"num_images": 0, "feature_net": "", "source": PUBLISHED}
    for column, value in values.items():
        if types[column].startswith(("float", "int")):
            if not value:
                continue
            try:
                parsed[column] = int(value) if types[column].startswith("int") else float(value)
            except ValueError:
                raise ValueError(f"published line {line}: {column} {value!r} is not a number") from None
        else:
            parsed[column] = value
    return MetricsReport(**parsed)  # type: ignore[arg-type]


def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.truetype("DejaVuSans.ttf", size)
    except OSError:
        return ImageFont.load_default(size)


def _row_label(report: MetricsReport, limit: int) -> str:
    label = report.label[:limit]
    return f"{label} (published)" if report.source == PUBLISHED else label


def _colours(reports: list[MetricsReport]) -> list[tuple[int, int, int]]:
    """A colour per measured model; every published row in one grey."""
    colours, measured = [], 0
    for report in reports:
        if report.source == PUBLISHED:
            colours.append(PUBLISHED_COLOUR)
        else:
            colours.append(BAR_COLOURS[measured % len(BAR_COLOURS)])
            measured += 1
    return colours


def _wrapped(text: str, width: int, lines: int = 2, char_width: float = 5.8) -> list[str]:
    """``text`` in at most ``lines`` lines of ``width`` pixels, broken after "; " where possible."""
    limit = max(10, int(width / char_width))
    out = [""]
    for piece in text.split("; "):
        joined = f"{out[-1]}; {piece}" if out[-1] else piece
        if len(joined) <= limit or not out[-1]:
            out[-1] = joined
        else:
            out.append(piece)
    out = out[:lines] if len(out) <= lines else out[:lines - 1] + ["; ".join(out[lines - 1:])]
    return [line if len(line) <= limit else line[:limit - 1] + "…" for line in out]


def render_comparison(reports: list[MetricsReport], title: str = "Model comparison") -> np.ndarray:
    """A table of every metric (each row with its protocol under it) and one bar chart per metric, as an RGB
    uint8 image. Published rows are labelled "(published)" and drawn in grey."""
    columns = [(key, name) for key, name in COLUMNS if any(getattr(r, key) is not None for r in reports)]
    width = max(800, 300 + 130 * len(columns))
    row_height, chart_height = 60, 220
    table_height = 110 + row_height * len(reports)
    image = Image.new("RGB", (width, table_height + chart_height * max(1, len(columns)) + 20), "white")
    draw = ImageDraw.Draw(image)
    draw.text((20, 15), title, fill="black", font=_font(22))
    draw.text((20, 60), "Model", fill="black", font=_font(15))
    for index, (_, name) in enumerate(columns):
        draw.text((300 + 130 * index, 60), name, fill="black", font=_font(15))
    for row, report in enumerate(reports):
        y = 95 + row * row_height
        ink = (90, 90, 90) if report.source == PUBLISHED else (0, 0, 0)
        draw.line((15, y - 6, width - 15, y - 6), fill=(220, 220, 220))
        draw.text((20, y), _row_label(report, 22), fill=ink, font=_font(14))
        for index, (key, _) in enumerate(columns):
            value = getattr(report, key)
            draw.text((300 + 130 * index, y), "—" if value is None else f"{value:.4g}", fill=ink, font=_font(14))
        for offset, line in enumerate(_wrapped(report.protocol(), width - 40)):  # the protocol under the row
            draw.text((20, y + 20 + 14 * offset), line, fill=(120, 120, 120), font=_font(11))
    colours = _colours(reports)
    for index, (key, name) in enumerate(columns):
        _bar_chart(draw, reports, colours, key, name, (20, table_height + index * chart_height, width - 20,
                                                       table_height + (index + 1) * chart_height - 20))
    return np.asarray(image)


def _bar_chart(draw: ImageDraw.ImageDraw, reports: list[MetricsReport], colours: list[tuple[int, int, int]],
               key: str, name: str, box: tuple[int, int, int, int]) -> None:
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
            draw.rectangle((x0, bar_area_bottom - height, x1, bar_area_bottom), fill=colours[index])
            draw.text((x0, bar_area_bottom - height - 16), f"{value:.3g}", fill="black", font=_font(12))
        draw.text((x0, bar_area_bottom + 3), _row_label(report, 18), fill="black", font=_font(12))
